"""One error shape for the whole API: ``{"detail": ..., "code": ...}``, plus ``errors`` on 400s.

Domain errors from the services and provider errors are translated here, so views never
catch them one by one. Django's own 404 and 500 pages are replaced under ``/api/`` too.
"""

import sys
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
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


def database_unavailable(exc) -> bool:
    """Whether ``exc`` says the database cannot be used for now (restart, dropped link).

    Connection failures, a terminated backend, a closed connection, and also deadlocks and
    lock time-outs: all pass, and a retry of the same request is the cure. A request that
    failed this way committed nothing after its failure, so the client is told to retry
    (503 and ``Retry-After``) instead of seeing a 500.
    """
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response(request) -> HttpResponse:
    """The 503 for a database that cannot be reached: the error shape under /api/, else a page."""
    headers = {"Retry-After": str(errors.DATABASE_RETRY_AFTER_SECONDS)}
    if _wants_json(request):
        return JsonResponse(
            {
                "detail": errors.DATABASE_UNAVAILABLE_MESSAGE,
                "code": errors.CODE_DATABASE_UNAVAILABLE,
            },
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            headers=headers,
        )
    return HttpResponse(
        f"<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
        f"<p>{errors.DATABASE_UNAVAILABLE_MESSAGE}</p>",
        status=HTTPStatus.SERVICE_UNAVAILABLE,
        headers=headers,
    )


def exception_handler(exc, context):
    if database_unavailable(exc):
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            errors.DATABASE_UNAVAILABLE_MESSAGE,
            errors.CODE_DATABASE_UNAVAILABLE,
            {"Retry-After": str(errors.DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, errors.ValidationFailed):
        return validation_response(exc.errors, exc.code)
    if isinstance(exc, errors.DeletedMeanwhile):
        return error_response(HTTPStatus.NOT_FOUND, exc.message, exc.code)
    if isinstance(exc, errors.FinetuningNotCancellable):
        return error_response(HTTPStatus.CONFLICT, exc.message, exc.code, status=exc.status)
    if isinstance(exc, errors.FinetuningActive | errors.ConnectionInUse):
        return error_response(HTTPStatus.CONFLICT, exc.message, exc.code)
    if isinstance(exc, errors.CancelInProgress):
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            exc.message,
            exc.code,
            {"Retry-After": str(exc.retry_after)},
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
    if isinstance(exc, errors.DomainError) and getattr(exc, "http_status", None):
        # A domain error that names its own status (e.g. a finished evaluation's 409).
        return error_response(HTTPStatus(exc.http_status), exc.message, exc.code, **exc.extra)
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
    # Django calls this inside its ``except`` block: the exception is still at hand. Errors
    # outside DRF's views (middleware, the admin) that mean "database down" end up here.
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    if _wants_json(request):
        return JsonResponse(
            {"detail": "Internal server error; it has been logged.", "code": "server_error"},
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)
