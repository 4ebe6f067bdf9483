"""Request bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length).

Django reads exactly Content-Length bytes, so without one it reads an empty body and the
API answers a confusing "required field" 400. A server that decodes chunked bodies itself
(gunicorn) marks the stream as ending on its own with ``wsgi.input_terminated``: such a body
is read here, up to the upload limit, and handed on with its length. A server that passes
the raw chunks (runserver, wsgiref) cannot be read safely: the client gets a 411 that says
to send Content-Length.
"""

import io
import json
from http import HTTPStatus

from django.conf import settings

from finetunings.errors import LENGTH_REQUIRED_MESSAGE, ErrorCode


class ChunkedBodyMiddleware:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            if not environ.get("wsgi.input_terminated"):
                return self._length_required(start_response)
            # One byte over the limit is enough for Django to answer 413 as for any body.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = environ["wsgi.input"].read(limit + 1 if limit is not None else -1)
            environ = {
                **environ,
                "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)),
            }
        return self.application(environ, start_response)

    @staticmethod
    def _length_required(start_response):
        content = json.dumps(
            {"detail": LENGTH_REQUIRED_MESSAGE, "code": ErrorCode.LENGTH_REQUIRED}
        ).encode()
        start_response(
            f"{HTTPStatus.LENGTH_REQUIRED.value} {HTTPStatus.LENGTH_REQUIRED.phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(content)))],
        )
        return [content]
