"""OpenAI behind the provider interface: the only module that imports the ``openai`` SDK.

Everything the SDK can raise is turned into the two domain errors here, with a message a
user can read on the job ("The provider did not answer within 30 seconds", "The provider
refused the request (400): ..."), so no caller ever handles an SDK exception.

Creating a job costs money, so it is the one call made with the SDK's retries off: a retry
after a lost response would create a second job. The caller resolves an ambiguous create
with ``find_job_by_metadata`` instead.
"""

import datetime
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO

import openai
from django.conf import settings

from finetunings import hygiene
from finetunings.ops import context
from finetunings.providers.base import (
    GeneratedSQL,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderEventPage,
    ProviderJob,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
    extract_sql,
)

NOT_CONFIGURED_MESSAGE = (
    "OPENAI_API_KEY is not set: the job waits in the queue until the worker is started "
    "with a provider key."
)
TIMEOUT_MESSAGE = "The provider did not answer within {seconds:g} seconds."
CONNECTION_MESSAGE = "The provider could not be reached: {error}"
RATE_LIMITED_MESSAGE = "The provider is rate limiting requests (429): {message}"
SERVER_ERROR_MESSAGE = "The provider had an internal error ({status}): {message}"
REJECTED_MESSAGE = "The provider refused the request ({status}): {message}"
CREDENTIALS_REJECTED_MESSAGE = (
    "The provider refused the service's credentials ({status}): {message} Check "
    "OPENAI_API_KEY; jobs wait in the queue until it is fixed."
)
DEADLINE_MESSAGE = (
    "The request ran out of time before the provider could be asked; nothing was changed."
)
# Below this many seconds left in a request, a provider call is not even started.
MIN_CALL_SECONDS = 0.5
NO_WEBHOOK_SECRET_MESSAGE = "OPENAI_WEBHOOK_SECRET is not set: webhooks cannot be verified."

PASSING_STATUS_CODES = frozenset({408, 409})


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return body["message"]
    return exc.message


def _call[T](operation: Callable[[], T]) -> T:
    """Run one SDK call, turning its exceptions into the domain's two errors."""
    remaining = context.remaining_seconds()  # the client was bounded by it (see client)
    try:
        return operation()
    except openai.APITimeoutError:
        seconds = settings.OPENAI_TIMEOUT_SECONDS
        if remaining is not None:
            seconds = round(min(seconds, remaining), 1)
        raise ProviderUnavailable(
            TIMEOUT_MESSAGE.format(seconds=seconds), may_have_acted=True
        ) from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise ProviderUnavailable(CONNECTION_MESSAGE.format(error=cause)) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        # The operator's key is wrong, not the job: like a missing key, the job must wait
        # (and a cancel answer 503) rather than be failed for good.
        raise ProviderNotConfigured(
            CREDENTIALS_REJECTED_MESSAGE.format(
                status=exc.status_code, message=_provider_message(exc)
            ),
            status_code=exc.status_code,
        ) from None
    except openai.RateLimitError as exc:
        raise ProviderUnavailable(
            RATE_LIMITED_MESSAGE.format(message=_provider_message(exc)),
            status_code=429,
            retry_after=_retry_after(exc.response.headers),
        ) from None
    except openai.APIStatusError as exc:
        # 408 (request timeout) and 409 (lock conflict) are passing too: the SDK itself
        # retries them, and a create that may have happened is looked up before retrying.
        if exc.status_code >= 500 or exc.status_code in PASSING_STATUS_CODES:
            raise ProviderUnavailable(
                SERVER_ERROR_MESSAGE.format(status=exc.status_code, message=_provider_message(exc)),
                status_code=exc.status_code,
                may_have_acted=exc.status_code >= 500,
            ) from None
        raise ProviderRejected(
            REJECTED_MESSAGE.format(status=exc.status_code, message=_provider_message(exc)),
            status_code=exc.status_code,
        ) from None
    except openai.APIResponseValidationError as exc:
        raise ProviderUnavailable(
            f"The provider sent an unexpected answer: {exc}", may_have_acted=True
        ) from None


def _retry_after(headers) -> float | None:
    """Seconds to wait, from the headers OpenAI sends with a 429 (as the SDK reads them)."""
    try:
        if headers.get("retry-after-ms") is not None:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        if headers.get("retry-after") is not None:
            return max(float(headers["retry-after"]), 0.0)
    except ValueError:
        pass  # an HTTP date or garbage: the caller's default pause applies
    return None


def _timestamp(value: int | None) -> datetime.datetime | None:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def _job(remote) -> ProviderJob:
    error = getattr(remote, "error", None)
    error_message = None
    if error is not None and getattr(error, "message", None):
        error_message = error.message
    trained_tokens = getattr(remote, "trained_tokens", None)
    return ProviderJob(
        id=remote.id,
        status=remote.status,
        model=getattr(remote, "model", None),
        fine_tuned_model=getattr(remote, "fine_tuned_model", None),
        training_file=getattr(remote, "training_file", None),
        validation_file=getattr(remote, "validation_file", None),
        error_message=error_message,
        metadata=dict(remote.metadata) if getattr(remote, "metadata", None) else None,
        created_at=_timestamp(getattr(remote, "created_at", None)),
        finished_at=_timestamp(getattr(remote, "finished_at", None)),
        trained_tokens=trained_tokens if isinstance(trained_tokens, int) else None,
        estimated_finish=_timestamp(getattr(remote, "estimated_finish", None)),
        hyperparameters=_hyperparameters(remote),
        error_code=getattr(error, "code", None) or None if error is not None else None,
        error_param=getattr(error, "param", None) or None if error is not None else None,
        result_files=tuple(getattr(remote, "result_files", None) or ()),
    )


def _hyperparameters(remote) -> dict | None:
    # Newer jobs carry them under their method; ``hyperparameters`` is the older place.
    method = getattr(remote, "method", None)
    supervised = getattr(method, "supervised", None) if method is not None else None
    found = getattr(supervised, "hyperparameters", None) if supervised is not None else None
    if found is None:
        found = getattr(remote, "hyperparameters", None)
    if found is None:
        return None
    values = found.model_dump(exclude_none=True) if hasattr(found, "model_dump") else dict(found)
    return values or None


def _number_or_auto(value):
    """Model parameters may be stored as strings ("3", "auto"); the provider wants numbers."""
    if not isinstance(value, str) or value.strip() == "auto":
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def _suffix(suffix: str | None) -> str | None:
    # The provider accepts letters, digits and dashes in a model suffix (up to 64 characters).
    if not suffix:
        return None
    cleaned = re.sub(r"[^a-z0-9-]+", "-", suffix.lower()).strip("-")[:40]
    return cleaned or None


class OpenAIProvider:
    name = "openai"

    def __init__(self):
        self._client = None
        if settings.OPENAI_API_KEY:
            self._client = openai.OpenAI(
                api_key=settings.OPENAI_API_KEY,
                base_url=settings.OPENAI_BASE_URL,
                timeout=settings.OPENAI_TIMEOUT_SECONDS,
                max_retries=settings.OPENAI_MAX_RETRIES,
            )

    def configuration_problem(self) -> str | None:
        """Why no call can be made at all, or None when the provider is usable."""
        return None if self._client is not None else NOT_CONFIGURED_MESSAGE

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client, bounded by the current request's deadline when there is one.

        A web request must answer (503 at worst) before the server's own timeout kills it,
        so within a request each call gets at most the time left and no SDK retries.
        """
        if self._client is None:
            raise ProviderNotConfigured(NOT_CONFIGURED_MESSAGE)
        remaining = context.remaining_seconds()
        if remaining is None:
            return self._client
        if remaining < MIN_CALL_SECONDS:
            raise ProviderUnavailable(DEADLINE_MESSAGE)
        return self._client.with_options(
            timeout=min(settings.OPENAI_TIMEOUT_SECONDS, remaining), max_retries=0
        )

    def upload_training_file(self, *, filename: str, file: BinaryIO) -> str:
        client = self.client
        uploaded = _call(
            lambda: client.files.create(
                file=(filename, file, "application/jsonl"), purpose="fine-tune"
            )
        )
        return uploaded.id

    def create_job(
        self,
        *,
        training_file_id: str,
        model: str,
        hyperparameters: dict,
        suffix: str | None,
        metadata: dict[str, str],
        validation_file_id: str | None = None,
    ) -> ProviderJob:
        # No SDK retries: after a timeout or a 5xx the job may exist, and a blind retry would
        # pay for a second one. The worker looks it up by metadata before trying again.
        client = self.client.with_options(max_retries=0)
        parameters = {name: _number_or_auto(value) for name, value in hyperparameters.items()}
        extra = {}
        if validation_file_id:
            extra["validation_file"] = validation_file_id
        if parameters:
            extra["method"] = {
                "type": "supervised",
                "supervised": {"hyperparameters": parameters},
            }
        remote = _call(
            lambda: client.fine_tuning.jobs.create(
                training_file=training_file_id,
                model=model,
                suffix=_suffix(suffix),
                metadata=metadata,
                **extra,
            )
        )
        return _job(remote)

    def retrieve_job(self, job_id: str) -> ProviderJob:
        client = self.client
        return _job(_call(lambda: client.fine_tuning.jobs.retrieve(job_id)))

    def list_jobs(self, *, after: str | None = None, limit: int = 100) -> list[ProviderJob]:
        client = self.client
        options = {"limit": limit}
        if after is not None:
            options["after"] = after
        page = _call(lambda: client.fine_tuning.jobs.list(**options))
        return [_job(remote) for remote in page.data]

    def find_job_by_metadata(self, *, key: str, value: str) -> ProviderJob | None:
        client = self.client
        page = _call(lambda: client.fine_tuning.jobs.list(metadata={key: value}, limit=10))
        for remote in page.data:
            if (remote.metadata or {}).get(key) == value:
                return _job(remote)
        return None

    def cancel_job(self, job_id: str) -> ProviderJob:
        # A user's request waits on this call (and holds the cancel lease): fail fast with
        # a 503 they can retry rather than sit through the SDK's retries and their pauses.
        client = self.client.with_options(max_retries=0)
        return _job(_call(lambda: client.fine_tuning.jobs.cancel(job_id)))

    def list_job_events(
        self, job_id: str, *, after: str | None = None, limit: int = 100
    ) -> ProviderEventPage:
        client = self.client
        options = {"limit": limit}
        if after is not None:
            options["after"] = after
        page = _call(lambda: client.fine_tuning.jobs.list_events(job_id, **options))
        events = [
            ProviderEvent(
                id=event.id,
                created_at=_timestamp(event.created_at),
                level=event.level,
                message=event.message,
                data=event.data if isinstance(event.data, dict) else {},
                type=getattr(event, "type", None) or "message",
            )
            for event in page.data
        ]
        return ProviderEventPage(events=events, has_more=bool(getattr(page, "has_more", False)))

    def list_job_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        client = self.client
        # One page holds them all: OpenAI keeps the checkpoints of the last few epochs.
        page = _call(lambda: client.fine_tuning.jobs.checkpoints.list(job_id, limit=100))
        return [
            ProviderCheckpoint(
                id=checkpoint.id,
                step=checkpoint.step_number,
                model_id=checkpoint.fine_tuned_model_checkpoint,
                metrics=checkpoint.metrics.model_dump(exclude_none=True)
                if checkpoint.metrics is not None
                else {},
                created_at=_timestamp(checkpoint.created_at),
            )
            for checkpoint in page.data
        ]

    def read_result_file(self, file_id: str) -> bytes:
        client = self.client
        return _call(lambda: client.files.content(file_id).read())

    def generate_sql(
        self,
        *,
        model: str,
        messages: list[dict],
        max_tokens: int,
        timeout: float | None = None,
    ) -> GeneratedSQL:
        # Asking twice costs a little and changes nothing, so the SDK's retries (429, 5xx,
        # timeouts, with its backoff) apply; only what survives them reaches the caller.
        client = self.client
        if timeout is not None:
            client = client.with_options(timeout=timeout)
        completion = _call(
            lambda: client.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=max_tokens,
                temperature=0,
                n=1,
            )
        )
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        usage = completion.usage
        return GeneratedSQL(
            sql=extract_sql(text),
            text=text,
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
            truncated=choice is not None and choice.finish_reason == "length",
        )


# --- Webhooks ---------------------------------------------------------------------------


class WebhookNotConfigured(Exception):
    pass


class WebhookSignatureInvalid(Exception):
    """The payload was not signed with our secret, or was signed too long ago."""


class WebhookBodyInvalid(Exception):
    """The payload is correctly signed, but is not an event of the documented shape."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    job_id: str | None


@cache
def _webhook_client(secret: str) -> openai.OpenAI:
    # Verifying a signature needs only the secret; the client never makes a request here.
    return openai.OpenAI(api_key="webhook-verification-only", webhook_secret=secret)


def webhook_unwrap(*, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
    """Verify a webhook (Standard Webhooks signature, 5-minute window), then read its body."""
    secret = settings.OPENAI_WEBHOOK_SECRET
    if not secret:
        raise WebhookNotConfigured(NO_WEBHOOK_SECRET_MESSAGE)
    try:
        # Only the signature here: the SDK's unwrap would also parse the body, with no
        # checks of its shape, and report a body that is not JSON as a bad signature.
        _webhook_client(secret).webhooks.verify_signature(payload, headers)
    except openai.InvalidWebhookSignatureError as exc:
        raise WebhookSignatureInvalid(str(exc)) from None
    except ValueError as exc:  # a missing or malformed header
        raise WebhookSignatureInvalid(str(exc)) from None
    return webhook_event_from_body(payload)


def webhook_event_from_body(payload: bytes) -> WebhookEvent:
    """The event a verified body describes, or ``WebhookBodyInvalid`` saying what is wrong.

    Signed does not mean well-formed: whatever the body holds must not reach a query or a
    response unless it is the shape OpenAI documents.
    """
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        raise WebhookBodyInvalid("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise WebhookBodyInvalid("The body must be a JSON object (an event).")
    event_id, event_type, data = body.get("id"), body.get("type", ""), body.get("data")
    if not _clean_string(event_id):
        raise WebhookBodyInvalid("The event's id must be a non-empty string of plain text.")
    if not isinstance(event_type, str) or hygiene.has_unsafe_text(event_type):
        raise WebhookBodyInvalid("The event's type must be a string of plain text.")
    if data is not None and not isinstance(data, dict):
        raise WebhookBodyInvalid("The event's data must be an object.")
    job_id = data.get("id") if data else None
    if job_id is not None and not _clean_string(job_id):
        raise WebhookBodyInvalid("The event's data.id must be a non-empty string of plain text.")
    return WebhookEvent(id=event_id, type=event_type, job_id=job_id)


def _clean_string(value) -> bool:
    return isinstance(value, str) and bool(value) and not hygiene.has_unsafe_text(value)
