"""The ``Idempotency-Key`` header on the API's creating POSTs and on cancel.

One decorator, put on each such view method, so that every route answers retries the same
way; the rules themselves live in ``finetunings.idempotency``.
"""

import functools
import hashlib
import logging
from contextlib import nullcontext
from http import HTTPStatus

from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from finetunings import errors, idempotency
from finetunings.api import serializers
from finetunings.models import APIKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional; any unique string up to 255 printable ASCII characters (a UUID, say). "
        "Sending the same request again with the same key within 24 hours does not repeat "
        "it: the first answer (status and body) comes back, with `Idempotent-Replayed: "
        "true`. The same key with a different request is a 422; a retry that arrives while "
        "the first request is still being answered waits for it (409 if it takes too long)."
    ),
)
IDEMPOTENCY_RESPONSES = {
    HTTPStatus.CONFLICT: OpenApiResponse(
        serializers.ErrorSerializer,
        description="The request with this Idempotency-Key is still being answered "
        f"(code {errors.ErrorCode.IDEMPOTENCY_KEY_IN_USE}), or the operation's own conflict.",
    ),
    HTTPStatus.UNPROCESSABLE_ENTITY: OpenApiResponse(
        serializers.ErrorSerializer,
        description="This Idempotency-Key was used for a different request "
        f"(code {errors.ErrorCode.IDEMPOTENCY_KEY_REUSED}).",
    ),
}


class InvalidIdempotencyKey(exceptions.APIException):
    status_code = HTTPStatus.BAD_REQUEST
    default_code = errors.ErrorCode.IDEMPOTENCY_KEY_INVALID


class IdempotencyKeyReused(exceptions.APIException):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    default_code = errors.ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_detail = errors.IDEMPOTENCY_KEY_REUSED_MESSAGE


class IdempotencyKeyInUse(exceptions.APIException):
    status_code = HTTPStatus.CONFLICT
    default_code = errors.ErrorCode.IDEMPOTENCY_KEY_IN_USE
    default_detail = errors.IDEMPOTENCY_KEY_IN_USE_MESSAGE


def _scope(request) -> str:
    if isinstance(request.auth, APIKey):
        return f"api-key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def _content(data):
    """The request's content in a form to digest; uploaded files by the digest of their bytes."""
    if isinstance(data, UploadedFile):
        digest = hashlib.sha256()
        for chunk in data.chunks():
            digest.update(chunk)
        data.seek(0)
        return {"file": digest.hexdigest()}
    if hasattr(data, "lists"):  # a QueryDict (multipart form)
        return {key: [_content(value) for value in values] for key, values in data.lists()}
    return data


def _keeps(response) -> bool:
    # Answers that say what the request did (or why it can never do it) are kept; a 429 or
    # a 5xx means nothing was done and a retry should try again.
    return isinstance(response, Response) and (
        response.status_code < 500 and response.status_code != HTTPStatus.TOO_MANY_REQUESTS
    )


def idempotent(*, atomic: bool):
    """Make a view method answer retries with its first answer.

    ``atomic``: run the method and keep its answer in one transaction, so that a request
    that dies half-way leaves neither its work nor a claimed key behind. Cancel passes
    False: it must not hold a transaction during the provider call, and cancelling twice is
    harmless anyway.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, *args, **kwargs):
            raw = request.headers.get(HEADER)
            if raw is None:
                return method(self, request, *args, **kwargs)
            key = raw.strip()
            if len(key) >= 2 and key[0] == key[-1] == '"':
                key = key[1:-1]  # the IETF draft sends it as a quoted structured string
            problem = idempotency.idempotency_key_problem(key)
            if problem:
                raise InvalidIdempotencyKey(problem)
            fingerprint = idempotency.request_fingerprint(
                method=request.method, path=request.path, content=_content(request.data)
            )
            try:
                claim = idempotency.idempotency_key_claim(
                    scope=_scope(request), key=key, fingerprint=fingerprint
                )
            except errors.IdempotencyKeyReused:
                raise IdempotencyKeyReused() from None
            except errors.IdempotencyKeyInUse:
                raise IdempotencyKeyInUse() from None
            if claim.replay is not None:
                return Response(
                    claim.replay.response_body,
                    status=claim.replay.response_status,
                    headers={REPLAYED_HEADER: "true"},
                )
            return _answer_once(self, request, method, claim.record, atomic, args, kwargs)

        # Only the parameter: each operation lists IDEMPOTENCY_RESPONSES with its own, since
        # an outer extend_schema's responses replace an inner one's.
        return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)

    return decorate


def _answer_once(view, request, method, record, atomic, args, kwargs):
    kept = False
    try:
        try:
            with transaction.atomic() if atomic else nullcontext():
                response = method(view, request, *args, **kwargs)
                if _keeps(response):
                    idempotency.idempotency_key_complete(
                        record=record, status=response.status_code, body=response.data
                    )
                    kept = True
        except Exception as exc:
            # The error answer is the request's answer too (a 400 stays a 400 on retry);
            # DRF's own handler shapes it, and re-raises what it does not know.
            response = view.handle_exception(exc)
            if _keeps(response):
                idempotency.idempotency_key_complete(
                    record=record, status=response.status_code, body=response.data
                )
                kept = True
        return response
    finally:
        if not kept:
            try:
                idempotency.idempotency_key_release(record=record)
            except DatabaseError:
                # The lease then frees the key; the original failure is what to report.
                logger.exception("Could not release idempotency key %s", record.pk)
