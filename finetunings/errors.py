"""Domain errors, with their machine codes and human messages as named constants.

Services raise these; the API's exception handler and the admin turn them into responses
and messages. Each error declares the HTTP status (and ``Retry-After``) it answers with, so
the handler needs no list of error types. Tests import ``ErrorCode`` instead of repeating
the strings.
"""

from enum import StrEnum
from http import HTTPStatus


class ErrorCode(StrEnum):
    """Every machine code the service answers with, in the API and the ops endpoints.

    A ``StrEnum``: members compare equal to, and serialize as, the strings clients see.
    """

    # Input
    VALIDATION = "invalid"
    PARSE_ERROR = "parse_error"
    ID_MISMATCH = "finetuning_id_mismatch"
    GOLDEN_RECORD_CONNECTION_FIXED = "golden_record_connection_fixed"
    TOO_MUCH_SQL = "too_much_sql"
    REQUEST_TOO_LARGE = "request_too_large"
    LENGTH_REQUIRED = "length_required"
    # Who may ask
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    THROTTLED = "throttled"
    METRICS_FORBIDDEN = "metrics_token_invalid"
    # Routes and representations
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # The jobs and their connections
    NOT_CANCELLABLE = "finetuning_not_cancellable"
    FINETUNING_ACTIVE = "finetuning_active"
    CONNECTION_IN_USE = "database_connection_in_use"
    CANCEL_IN_PROGRESS = "cancel_in_progress"
    TRAINING_FILE_NOT_READY = "training_file_not_ready"
    VALIDATION_FILE_NOT_READY = "validation_file_not_ready"
    NO_VALIDATION_FILE = "no_validation_file"
    # Evaluations
    FINETUNING_NOT_SUCCEEDED = "finetuning_not_succeeded"
    NO_VALIDATION_RECORDS = "no_validation_records"
    EVALUATION_NOT_CANCELLABLE = "evaluation_not_cancellable"
    # The provider and its webhooks
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_ERROR = "provider_error"
    WEBHOOK_NOT_CONFIGURED = "webhook_not_configured"
    WEBHOOK_INVALID_SIGNATURE = "invalid_webhook_signature"
    WEBHOOK_INVALID_BODY = "invalid_webhook_body"
    # Idempotency keys
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    # The service itself
    NOT_READY = "not_ready"
    DATABASE_UNAVAILABLE = "database_unavailable"
    SERVER_ERROR = "server_error"
    ERROR = "error"


CANCELLED_BY_USER_MESSAGE = "Fine tuning cancelled by the user"
GOLDEN_RECORD_CONNECTION_FIXED_MESSAGE = (
    "A golden record cannot move to another database connection: its SQL answers a question "
    "about its own connection's schema, and jobs of that connection may train on it. Create "
    "a new golden record on the other connection instead."
)
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database cannot be reached right now (it may be restarting). Retry shortly; "
    "retrying is safe."
)
# Long enough for a restart or a fail-over to finish, short enough not to lose clients.
DATABASE_RETRY_AFTER_SECONDS = 5
PROVIDER_UNAVAILABLE_MESSAGE = (
    "The fine-tuning provider could not be reached; nothing was changed. Retry later. ({})"
)
PROVIDER_ERROR_MESSAGE = "The fine-tuning provider refused the request; nothing was changed. ({})"
# A passing provider failure usually clears within seconds (a restart, a burst of 429s).
PROVIDER_RETRY_AFTER_SECONDS = 10
SERVER_ERROR_MESSAGE = "Internal server error; it has been logged."
REQUEST_TOO_LARGE_MESSAGE = (
    "The request body is larger than {limit_mib:g} MiB; send it in smaller parts."
)
NO_SUCH_ROUTE_MESSAGE = "No such API route: {path}"
METRICS_OFF_MESSAGE = "Metrics are turned off (no FINETUNING_METRICS_TOKEN)."


class DomainError(Exception):
    """Base of every error a service raises on purpose.

    ``http_status`` and ``retry_after`` (seconds, or None) say how the API answers it;
    ``body_extra`` holds fields the API adds to the error body beside detail and code.
    """

    code: ErrorCode = ErrorCode.ERROR
    http_status: HTTPStatus = HTTPStatus.BAD_REQUEST
    retry_after: int | None = None
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, **extra):
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)

    @property
    def body_extra(self) -> dict:
        return {}


class ValidationFailed(DomainError):
    """Input broke a business rule; ``errors`` maps field names to messages."""

    code = ErrorCode.VALIDATION
    default_message = "Invalid input."

    def __init__(self, errors: dict[str, list[str]], message: str | None = None):
        self.errors = errors
        super().__init__(message)


class GoldenRecordConnectionFixed(ValidationFailed):
    code = ErrorCode.GOLDEN_RECORD_CONNECTION_FIXED

    def __init__(self):
        super().__init__({"db_connection_id": [GOLDEN_RECORD_CONNECTION_FIXED_MESSAGE]})


class DeletedMeanwhile(DomainError):
    """The row being edited was deleted by another request after it was read."""

    code = ErrorCode.NOT_FOUND
    http_status = HTTPStatus.NOT_FOUND

    def __init__(self, noun: str):
        super().__init__(f"The {noun} was deleted while this request was changing it.")


class TooMuchSQL(ValidationFailed):
    """A request holds more SQL than one request may have parsed (``SQL_MAX_TOTAL_LENGTH``)."""

    code = ErrorCode.TOO_MUCH_SQL


class FinetuningNotCancellable(DomainError):
    code = ErrorCode.NOT_CANCELLABLE
    http_status = HTTPStatus.CONFLICT

    def __init__(self, status: str):
        self.status = status
        super().__init__(f"The fine-tuning job has already {status} and cannot be cancelled.")

    @property
    def body_extra(self) -> dict:
        return {"status": self.status}


class FinetuningActive(DomainError):
    code = ErrorCode.FINETUNING_ACTIVE
    http_status = HTTPStatus.CONFLICT
    default_message = "The fine-tuning job is still active: cancel it before deleting it."


class ConnectionInUse(DomainError):
    code = ErrorCode.CONNECTION_IN_USE
    http_status = HTTPStatus.CONFLICT
    default_message = (
        "The database connection has active fine-tuning jobs: cancel them or let them finish "
        "before deleting it."
    )


class CancelInProgress(DomainError):
    """Another request is cancelling this job (at the provider, or a job not there yet)."""

    code = ErrorCode.CANCEL_IN_PROGRESS
    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Another request is cancelling this fine-tuning job; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: int = 2):
        self.retry_after = retry_after
        super().__init__(message)


# --- Worker, training and validation files, webhook ---------------------------------------

TRAINING_FILE_NOT_READY_MESSAGE = (
    "The training file of this job has not been built yet; the worker builds it when it "
    "submits the job."
)
VALIDATION_FILE_NOT_READY_MESSAGE = (
    "The validation file is built by the worker when it submits the job; it is not ready yet."
)
NO_VALIDATION_FILE_MESSAGE = (
    "This job has no validation split (it was created without validation_golden_records or "
    "validation_fraction), so it has no validation file."
)
WEBHOOK_INVALID_SIGNATURE_MESSAGE = "The webhook signature is invalid or stale: {reason}"
WEBHOOK_INVALID_BODY_MESSAGE = (
    "The webhook is correctly signed but its body is not an event: {reason}"
)

# --- Request bodies -----------------------------------------------------------------------

LENGTH_REQUIRED_MESSAGE = (
    "This server cannot read a chunked request body: send the body with a Content-Length "
    "header (or serve the API with gunicorn, which reads chunked bodies)."
)


# --- Idempotency keys --------------------------------------------------------------------

IDEMPOTENCY_KEY_REUSED_MESSAGE = (
    "This Idempotency-Key was already used for a different request (another route or body) "
    "in the last 24 hours; use a new key for a new request."
)
IDEMPOTENCY_KEY_IN_USE_MESSAGE = (
    "A request with this Idempotency-Key is still being answered; retry shortly to get its answer."
)


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    http_status = HTTPStatus.UNPROCESSABLE_ENTITY
    default_message = IDEMPOTENCY_KEY_REUSED_MESSAGE


class IdempotencyKeyInUse(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_IN_USE
    http_status = HTTPStatus.CONFLICT
    default_message = IDEMPOTENCY_KEY_IN_USE_MESSAGE


# --- Evaluations ----------------------------------------------------------------------------

FINETUNING_NOT_SUCCEEDED_MESSAGE = (
    "Only a succeeded job can be evaluated (this one is {status}): its fine-tuned model must exist."
)
NO_VALIDATION_RECORDS_MESSAGE = (
    "The job has no validation records to evaluate on: name the golden records to use "
    "(golden_records), or start a job with a validation split."
)


class FinetuningNotSucceeded(ValidationFailed):
    code = ErrorCode.FINETUNING_NOT_SUCCEEDED

    def __init__(self, status: str):
        message = FINETUNING_NOT_SUCCEEDED_MESSAGE.format(status=status)
        super().__init__({"non_field_errors": [message]})


class NoValidationRecords(ValidationFailed):
    code = ErrorCode.NO_VALIDATION_RECORDS

    def __init__(self):
        super().__init__({"golden_records": [NO_VALIDATION_RECORDS_MESSAGE]})


class EvaluationNotCancellable(DomainError):
    """A finished evaluation stays as it finished (409, with its status)."""

    code = ErrorCode.EVALUATION_NOT_CANCELLABLE
    http_status = HTTPStatus.CONFLICT

    def __init__(self, status: str):
        self.status = status
        super().__init__(f"The evaluation has already {status} and cannot be cancelled.")

    @property
    def body_extra(self) -> dict:
        return {"status": self.status}
