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
from finetunings.errors import (
    PROVIDER_ERROR_MESSAGE,
    PROVIDER_UNAVAILABLE_MESSAGE,
    ErrorCode,
)
from finetunings.providers import ProviderError, ProviderRejected, ProviderUnavailable

# The provider boundary knows nothing of HTTP (its ``retry_after`` is the provider's own
# request to us), so how the API answers its two errors is declared here, once.
PROVIDER_ERROR_ANSWERS = {
    ProviderUnavailable: (
        HTTPStatus.SERVICE_UNAVAILABLE,
        ErrorCode.PROVIDER_UNAVAILABLE,
        PROVIDER_UNAVAILABLE_MESSAGE,
        errors.PROVIDER_RETRY_AFTER_SECONDS,
    ),
    ProviderRejected: (
        HTTPStatus.BAD_GATEWAY,
        ErrorCode.PROVIDER_ERROR,
        PROVIDER_ERROR_MESSAGE,
        None,
    ),
}


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
    field_errors: dict[str, list[str]], code: str = ErrorCode.VALIDATION
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
    headers = _retry_after(errors.DATABASE_RETRY_AFTER_SECONDS)
    if _wants_json(request):
        return JsonResponse(
            {
                "detail": errors.DATABASE_UNAVAILABLE_MESSAGE,
                "code": ErrorCode.DATABASE_UNAVAILABLE,
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


def _retry_after(seconds: int | None) -> dict[str, str] | None:
    return None if seconds is None else {"Retry-After": str(seconds)}


def domain_error_response(exc: errors.DomainError) -> Response:
    """A service's error, answered with the status and Retry-After the error declares."""
    if isinstance(exc, errors.ValidationFailed):
        return validation_response(exc.errors, exc.code)
    return error_response(
        exc.http_status, exc.message, exc.code, _retry_after(exc.retry_after), **exc.body_extra
    )


def provider_error_response(exc: ProviderError) -> Response:
    kind = next(klass for klass in type(exc).__mro__ if klass in PROVIDER_ERROR_ANSWERS)
    http_status, code, message, retry_after = PROVIDER_ERROR_ANSWERS[kind]
    return error_response(http_status, message.format(exc.message), code, _retry_after(retry_after))


def _own_response(exc) -> Response | None:
    """The answer to an error this service names itself; None for DRF's and Django's own."""
    if database_unavailable(exc):
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            errors.DATABASE_UNAVAILABLE_MESSAGE,
            ErrorCode.DATABASE_UNAVAILABLE,
            _retry_after(errors.DATABASE_RETRY_AFTER_SECONDS),
        )
    if isinstance(exc, errors.DomainError):
        return domain_error_response(exc)
    if isinstance(exc, ProviderError) and any(
        isinstance(exc, kind) for kind in PROVIDER_ERROR_ANSWERS
    ):
        return provider_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        limit_mib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        return error_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            errors.REQUEST_TOO_LARGE_MESSAGE.format(limit_mib=limit_mib),
            ErrorCode.REQUEST_TOO_LARGE,
        )
    return None


def exception_handler(exc, context):
    own = _own_response(exc)
    if own is not None:
        return own
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
    code = getattr(detail, "code", None) or getattr(exc, "default_code", ErrorCode.ERROR)
    response.data = {"detail": str(detail), "code": code}
    return response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    if _wants_json(request):
        return JsonResponse(
            {
                "detail": errors.NO_SUCH_ROUTE_MESSAGE.format(path=request.path),
                "code": ErrorCode.NOT_FOUND,
            },
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
            {"detail": errors.SERVER_ERROR_MESSAGE, "code": ErrorCode.SERVER_ERROR},
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)
