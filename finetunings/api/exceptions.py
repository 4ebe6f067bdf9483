"""One error shape for the whole API: ``{"detail": ..., "code": ...}``, plus ``errors`` on 400s.

Domain errors from the services and provider errors are translated here, so views never
catch them one by one. Django's own 404 and 500 pages are replaced under ``/api/`` too.
"""

from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from finetunings import errors
from finetunings.providers import ProviderRejected, ProviderUnavailable

PROVIDER_UNAVAILABLE_MESSAGE = (
    "The fine-tuning provider could not be reached; nothing was changed. Retry later. ({})"
)
PROVIDER_ERROR_MESSAGE = "The fine-tuning provider refused the request; nothing was changed. ({})"


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"field.sub": ["message", ...]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}{key}."))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}{index}."))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix.rstrip(".") or "non_field_errors": [str(message) for message in messages]}


def validation_response(
    field_errors: dict[str, list[str]], code: str = errors.CODE_VALIDATION
) -> Response:
    field_errors = {field: messages for field, messages in field_errors.items() if messages}
    first_field, first_messages = next(iter(field_errors.items()), ("", ["Invalid input."]))
    where = "" if first_field == "non_field_errors" else f"{first_field}: "
    more = len(field_errors) - 1
    detail = f"Invalid input. {where}{first_messages[0]}" + (
        f" (and {more} more problem{'s' if more > 1 else ''}; see errors)" if more > 0 else ""
    )
    return Response(
        {"detail": detail, "code": code, "errors": field_errors},
        status=HTTPStatus.BAD_REQUEST,
    )


def error_response(
    http_status: HTTPStatus, detail: str, code: str, headers=None, **extra
) -> Response:
    """A response in the API's one error shape, for views that answer an error themselves."""
    return Response({"detail": detail, "code": code, **extra}, status=http_status, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, errors.ValidationFailed):
        return validation_response(exc.errors, exc.code)
    if isinstance(exc, errors.FinetuningNotCancellable):
        return error_response(HTTPStatus.CONFLICT, exc.message, exc.code, status=exc.status)
    if isinstance(exc, errors.FinetuningActive | errors.ConnectionInUse):
        return error_response(HTTPStatus.CONFLICT, exc.message, exc.code)
    if isinstance(exc, errors.CancelInProgress):
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE, exc.message, exc.code, {"Retry-After": "2"}
        )
    if isinstance(exc, ProviderUnavailable):
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            PROVIDER_UNAVAILABLE_MESSAGE.format(exc.message),
            errors.CODE_PROVIDER_UNAVAILABLE,
            {"Retry-After": "10"},
        )
    if isinstance(exc, ProviderRejected):
        return error_response(
            HTTPStatus.BAD_GATEWAY,
            PROVIDER_ERROR_MESSAGE.format(exc.message),
            errors.CODE_PROVIDER_ERROR,
        )
    if isinstance(exc, RequestDataTooBig):
        limit_mib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        return error_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The request body is larger than {limit_mib:g} MiB; send it in smaller parts.",
            "request_too_large",
        )
    if isinstance(exc, Http404) and not isinstance(exc, exceptions.NotFound):
        exc = exceptions.NotFound(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500 (JSON, see server_error)
    if isinstance(exc, exceptions.ValidationError):
        validation = validation_response(flatten_errors(exc.detail))
        response.data = validation.data
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"detail": str(detail), "code": code}
    return response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    if _wants_json(request):
        return JsonResponse(
            {"detail": f"No such API route: {request.path}", "code": "not_found"},
            status=HTTPStatus.NOT_FOUND,
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return JsonResponse(
            {"detail": "Internal server error; it has been logged.", "code": "server_error"},
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)
