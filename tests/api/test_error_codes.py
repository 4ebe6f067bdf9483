"""Every domain error is answered with the status, code and Retry-After it declares."""

from http import HTTPStatus

import pytest
from rest_framework import exceptions

from finetunings import errors
from finetunings.api.exceptions import exception_handler
from finetunings.errors import ErrorCode
from finetunings.providers import ProviderNotConfigured, ProviderRejected, ProviderUnavailable


def test_every_error_code_is_a_distinct_string():
    values = [member.value for member in ErrorCode.__members__.values()]

    assert len(values) == len(set(values))
    assert all(value == value.lower() and " " not in value for value in values)


@pytest.mark.parametrize(
    ("error", "http_status", "extra"),
    [
        (errors.DeletedMeanwhile("golden record"), HTTPStatus.NOT_FOUND, {}),
        (
            errors.FinetuningNotCancellable("succeeded"),
            HTTPStatus.CONFLICT,
            {"status": "succeeded"},
        ),
        (errors.FinetuningActive(), HTTPStatus.CONFLICT, {}),
        (errors.ConnectionInUse(), HTTPStatus.CONFLICT, {}),
        (errors.IdempotencyKeyReused(), HTTPStatus.UNPROCESSABLE_ENTITY, {}),
        (errors.IdempotencyKeyInUse(), HTTPStatus.CONFLICT, {}),
        (errors.CancelInProgress(retry_after=7), HTTPStatus.SERVICE_UNAVAILABLE, {}),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_a_domain_error_is_answered_as_it_declares(error, http_status, extra):
    response = exception_handler(error, {})

    assert response.status_code == error.http_status == http_status
    assert response.data == {"detail": error.message, "code": error.code, **extra}
    if error.retry_after is None:
        assert "Retry-After" not in response.headers
    else:
        assert response.headers["Retry-After"] == str(error.retry_after)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ValidationFailed({"alias": ["Taken."]}), ErrorCode.VALIDATION),
        (errors.GoldenRecordConnectionFixed(), ErrorCode.GOLDEN_RECORD_CONNECTION_FIXED),
        (errors.TooMuchSQL({"sql": ["Too much."]}), ErrorCode.TOO_MUCH_SQL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_a_broken_rule_is_a_400_that_names_each_field(error, code):
    response = exception_handler(error, {})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.data["code"] == code
    assert response.data["errors"] == error.errors


@pytest.mark.parametrize(
    ("error", "http_status", "code", "retry_after"),
    [
        (
            ProviderUnavailable("timed out"),
            HTTPStatus.SERVICE_UNAVAILABLE,
            ErrorCode.PROVIDER_UNAVAILABLE,
            "10",
        ),
        (
            ProviderNotConfigured("no key"),
            HTTPStatus.SERVICE_UNAVAILABLE,
            ErrorCode.PROVIDER_UNAVAILABLE,
            "10",
        ),
        (
            ProviderRejected("Invalid API key."),
            HTTPStatus.BAD_GATEWAY,
            ErrorCode.PROVIDER_ERROR,
            None,
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_a_provider_error_is_a_502_or_a_503_that_quotes_the_provider(
    error, http_status, code, retry_after
):
    response = exception_handler(error, {})

    assert response.status_code == http_status
    assert response.data["code"] == code
    assert error.message in response.data["detail"]
    assert "nothing was changed" in response.data["detail"]
    assert response.headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    ("drf_error", "code"),
    [
        (exceptions.ParseError, ErrorCode.PARSE_ERROR),
        (exceptions.ValidationError, ErrorCode.VALIDATION),
        (exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
        (exceptions.AuthenticationFailed, ErrorCode.AUTHENTICATION_FAILED),
        (exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
        (exceptions.NotFound, ErrorCode.NOT_FOUND),
        (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
        (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
        (exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        (exceptions.Throttled, ErrorCode.THROTTLED),
    ],
)
def test_the_codes_drf_answers_with_are_named_in_error_code(drf_error, code):
    # DRF's own errors pass through the handler with DRF's code: the names must follow it.
    assert drf_error.default_code == code
