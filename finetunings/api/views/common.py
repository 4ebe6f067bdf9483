"""What the viewsets share: the documented error answers, the friendly 404, file downloads."""

from http import HTTPStatus

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action

from finetunings import errors, selectors
from finetunings.api import serializers
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.renderers import JSONLinesRenderer, JSONRenderer, OctetStreamRenderer
from finetunings.errors import ErrorCode

ERROR = serializers.ErrorSerializer
AUTH_ERRORS = {
    HTTPStatus.UNAUTHORIZED: OpenApiResponse(ERROR, description="Missing or invalid API key."),
    HTTPStatus.FORBIDDEN: OpenApiResponse(
        ERROR,
        description="A staff session without the Django model permission this needs "
        "(API keys have every permission).",
    ),
}
NOT_FOUND = {HTTPStatus.NOT_FOUND: OpenApiResponse(ERROR, description="Unknown id.")}
BAD_REQUEST = {
    HTTPStatus.BAD_REQUEST: OpenApiResponse(
        serializers.ValidationErrorSerializer, description="Invalid input; see errors."
    )
}
PROVIDER_ERRORS = {
    HTTPStatus.BAD_GATEWAY: OpenApiResponse(
        ERROR, description="The provider refused the request; the job is unchanged."
    ),
    HTTPStatus.SERVICE_UNAVAILABLE: OpenApiResponse(
        ERROR,
        description="The provider could not be reached (or another cancel of the same job "
        "is still in flight); the job is unchanged, retry after Retry-After seconds.",
    ),
}

# A kept JSONL file (the training or validation file a job was built with).
JSONL_FILE = {
    (HTTPStatus.OK, "application/jsonl"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The JSONL file."
    ),
    # The same bytes; the type client generators turn into a call returning them.
    (HTTPStatus.OK, "application/octet-stream"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The JSONL file, as plain bytes."
    ),
    **BAD_REQUEST,
    **AUTH_ERRORS,
    **NOT_FOUND,
}


def jsonl_file_route(*, url_path: str, **schema):
    """A job's route that serves one of its kept JSONL files (``kept_file_response``)."""

    def decorate(method):
        route = action(
            detail=True,
            methods=["get"],
            url_path=url_path,
            renderer_classes=[JSONRenderer, JSONLinesRenderer, OctetStreamRenderer],
        )(method)
        return extend_schema(responses=JSONL_FILE, **schema)(route)

    return decorate


# The 404 of a kept file the worker has not built yet, by kind.
_NOT_READY = {
    "training": (errors.TRAINING_FILE_NOT_READY_MESSAGE, ErrorCode.TRAINING_FILE_NOT_READY),
    "validation": (errors.VALIDATION_FILE_NOT_READY_MESSAGE, ErrorCode.VALIDATION_FILE_NOT_READY),
}


def kept_file_response(request, finetuning, kind: str) -> FileResponse:
    """The job's kept ``kind`` file (training, validation), streamed, as JSON Lines or (when
    asked for) plain bytes, with its checksum as the ETag; a 404 until it is built."""
    if not getattr(finetuning, f"{kind}_file"):
        message, code = _NOT_READY[kind]
        raise exceptions.NotFound(message, code=code)
    response = FileResponse(
        getattr(finetuning, f"{kind}_file").open("rb"),
        as_attachment=True,
        filename=finetuning.kept_file_name(kind),
        content_type=OctetStreamRenderer.media_type
        if request.accepted_renderer.media_type == OctetStreamRenderer.media_type
        else JSONLinesRenderer.media_type,
    )
    sha256 = getattr(finetuning, f"{kind}_file_sha256")
    if sha256:
        response["ETag"] = f'"{sha256}"'
    return response


def conflict(description: str, serializer=ERROR):
    return {HTTPStatus.CONFLICT: OpenApiResponse(serializer, description=description)}


def first_connection_id() -> str:
    connection = selectors.database_connection_list().order_by("created_at", "id").first()
    return connection.pk if connection else "<the id of a database connection>"


class IdempotentCreateMixin:
    """A create that answers a retry with the same Idempotency-Key by the first answer."""

    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)


class FriendlyNotFoundMixin:
    """A 404 that names the kind of thing and the id that was not found."""

    def get_object(self):
        self.lookup_pk()
        try:
            return super().get_object()
        except Http404:
            raise self.not_found() from None

    def lookup_pk(self) -> str:
        """The id in the path, for a view that looks it up itself (404 if none could hold it)."""
        pk = self.kwargs.get("pk", "")
        if "\x00" in pk:
            # No id holds a NUL, and PostgreSQL would refuse to even look one up.
            raise exceptions.NotFound(f"No {self.queryset.model._meta.verbose_name} with that id.")
        return pk

    def not_found(self) -> exceptions.NotFound:
        noun = self.queryset.model._meta.verbose_name
        return exceptions.NotFound(f"No {noun} with id {self.kwargs['pk']!r}.")


def found_or_404(queryset, pk: str, message: str):
    """The row of ``queryset`` with id ``pk``, else a 404 saying ``message``."""
    # No id holds a NUL, and PostgreSQL would refuse to even look one up.
    found = queryset.filter(pk=pk).first() if "\x00" not in pk else None
    if found is None:
        raise exceptions.NotFound(message)
    return found


def not_cancellable_example(title: str, detail: str, code: str) -> OpenApiExample:
    """The documented 409 of cancelling something that has already finished."""
    return OpenApiExample(
        title,
        value={"detail": detail, "code": code, "status": "succeeded"},
        response_only=True,
        status_codes=["409"],
    )


# The answers each kind of route documents, so every viewset lists the same ones.
def listed(serializer) -> dict:
    return {HTTPStatus.OK: serializer, **BAD_REQUEST, **AUTH_ERRORS}


def created(serializer) -> dict:
    return {HTTPStatus.CREATED: serializer, **BAD_REQUEST, **AUTH_ERRORS, **IDEMPOTENCY_RESPONSES}


def shown(serializer) -> dict:
    return {HTTPStatus.OK: serializer, **NOT_FOUND, **AUTH_ERRORS}


def changed(serializer) -> dict:
    return {HTTPStatus.OK: serializer, **BAD_REQUEST, **NOT_FOUND, **AUTH_ERRORS}


def deleted(conflict_description: str | None = None) -> dict:
    refused = conflict(conflict_description) if conflict_description else {}
    return {HTTPStatus.NO_CONTENT: None, **NOT_FOUND, **AUTH_ERRORS, **refused}
