"""OpenAI's webhooks: the signature checked with the SDK, then the body read with care.

Part of the OpenAI provider (``finetunings.providers.openai`` re-exports these names). The
SDK is imported on first use: a web process that never receives a webhook does not load it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings

from finetunings import hygiene

if TYPE_CHECKING:
    import openai

NO_WEBHOOK_SECRET_MESSAGE = "OPENAI_WEBHOOK_SECRET is not set: webhooks cannot be verified."


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
    import openai

    return openai.OpenAI(api_key="webhook-verification-only", webhook_secret=secret)


def webhook_unwrap(*, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
    """Verify a webhook (Standard Webhooks signature, 5-minute window), then read its body."""
    secret = settings.OPENAI_WEBHOOK_SECRET
    if not secret:
        raise WebhookNotConfigured(NO_WEBHOOK_SECRET_MESSAGE)
    import openai

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
