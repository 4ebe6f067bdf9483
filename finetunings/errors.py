"""Domain errors, with their machine codes and human messages as named constants.

Services raise these; the API's exception handler and the admin turn them into responses
and messages. Tests import the constants instead of repeating the strings.
"""

CANCELLED_BY_USER_MESSAGE = "Fine tuning cancelled by the user"

# Machine codes that appear in the API's error bodies.
CODE_NOT_CANCELLABLE = "finetuning_not_cancellable"
CODE_FINETUNING_ACTIVE = "finetuning_active"
CODE_CONNECTION_IN_USE = "database_connection_in_use"
CODE_ID_MISMATCH = "finetuning_id_mismatch"
CODE_PROVIDER_UNAVAILABLE = "provider_unavailable"
CODE_PROVIDER_ERROR = "provider_error"
CODE_CANCEL_IN_PROGRESS = "cancel_in_progress"
CODE_VALIDATION = "invalid"
CODE_NOT_FOUND = "not_found"
CODE_GOLDEN_RECORD_CONNECTION_FIXED = "golden_record_connection_fixed"
GOLDEN_RECORD_CONNECTION_FIXED_MESSAGE = (
    "A golden record cannot move to another database connection: its SQL answers a question "
    "about its own connection's schema, and jobs of that connection may train on it. Create "
    "a new golden record on the other connection instead."
)
CODE_DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database cannot be reached right now (it may be restarting). Retry shortly; "
    "retrying is safe."
)
# Long enough for a restart or a fail-over to finish, short enough not to lose clients.
DATABASE_RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, **extra):
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """Input broke a business rule; ``errors`` maps field names to messages."""

    code = CODE_VALIDATION
    default_message = "Invalid input."

    def __init__(self, errors: dict[str, list[str]], message: str | None = None):
        self.errors = errors
        super().__init__(message)


class GoldenRecordConnectionFixed(ValidationFailed):
    code = CODE_GOLDEN_RECORD_CONNECTION_FIXED

    def __init__(self):
        super().__init__({"db_connection_id": [GOLDEN_RECORD_CONNECTION_FIXED_MESSAGE]})


class DeletedMeanwhile(DomainError):
    """The row being edited was deleted by another request after it was read."""

    code = CODE_NOT_FOUND

    def __init__(self, noun: str):
        super().__init__(f"The {noun} was deleted while this request was changing it.")


CODE_TOO_MUCH_SQL = "too_much_sql"


class TooMuchSQL(ValidationFailed):
    """A request holds more SQL than one request may have parsed (``SQL_MAX_TOTAL_LENGTH``)."""

    code = CODE_TOO_MUCH_SQL


class FinetuningNotCancellable(DomainError):
    code = CODE_NOT_CANCELLABLE

    def __init__(self, status: str):
        self.status = status
        super().__init__(f"The fine-tuning job has already {status} and cannot be cancelled.")


class FinetuningActive(DomainError):
    code = CODE_FINETUNING_ACTIVE
    default_message = "The fine-tuning job is still active: cancel it before deleting it."


class ConnectionInUse(DomainError):
    code = CODE_CONNECTION_IN_USE
    default_message = (
        "The database connection has active fine-tuning jobs: cancel them or let them finish "
        "before deleting it."
    )


class CancelInProgress(DomainError):
    """Another request is cancelling this job at the provider and has not finished yet."""

    code = CODE_CANCEL_IN_PROGRESS
    default_message = (
        "Another request is cancelling this fine-tuning job at the provider; retry shortly."
    )

    def __init__(self, message: str | None = None, *, retry_after: int = 2):
        self.retry_after = retry_after
        super().__init__(message)


# --- Worker, training file and webhook ---------------------------------------------------

CODE_TRAINING_FILE_NOT_READY = "training_file_not_ready"
TRAINING_FILE_NOT_READY_MESSAGE = (
    "The training file of this job has not been built yet; the worker builds it when it "
    "submits the job."
)
CODE_WEBHOOK_NOT_CONFIGURED = "webhook_not_configured"
CODE_WEBHOOK_INVALID_SIGNATURE = "invalid_webhook_signature"
WEBHOOK_INVALID_SIGNATURE_MESSAGE = "The webhook signature is invalid or stale: {reason}"
CODE_WEBHOOK_INVALID_BODY = "invalid_webhook_body"
WEBHOOK_INVALID_BODY_MESSAGE = (
    "The webhook is correctly signed but its body is not an event: {reason}"
)

# --- Request bodies -----------------------------------------------------------------------

CODE_LENGTH_REQUIRED = "length_required"
LENGTH_REQUIRED_MESSAGE = (
    "This server cannot read a chunked request body: send the body with a Content-Length "
    "header (or serve the API with gunicorn, which reads chunked bodies)."
)


# --- Idempotency keys --------------------------------------------------------------------

CODE_IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
CODE_IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
CODE_IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
IDEMPOTENCY_KEY_REUSED_MESSAGE = (
    "This Idempotency-Key was already used for a different request (another route or body) "
    "in the last 24 hours; use a new key for a new request."
)
IDEMPOTENCY_KEY_IN_USE_MESSAGE = (
    "A request with this Idempotency-Key is still being answered; retry shortly to get its answer."
)


class IdempotencyKeyReused(DomainError):
    code = CODE_IDEMPOTENCY_KEY_REUSED
    default_message = IDEMPOTENCY_KEY_REUSED_MESSAGE


class IdempotencyKeyInUse(DomainError):
    code = CODE_IDEMPOTENCY_KEY_IN_USE
    default_message = IDEMPOTENCY_KEY_IN_USE_MESSAGE
