"""Safe retries: the services behind the ``Idempotency-Key`` header.

A client that times out does not know whether its request did anything; with a key it can
simply send the request again. The first request with a key claims it (one row, unique per
caller and key); the answer it gets is stored on that row, and every later request with the
same key and the same content gets that answer back instead of doing the work again. The
same key with other content is refused, and a request that arrives while the first is still
being answered waits for it. Keys are kept for a day (``FINETUNING_IDEMPOTENCY_TTL_SECONDS``).

Following the IETF draft "The Idempotency-Key HTTP Header Field": 422 for a key reused with
another request, 409 while the first request is still in progress.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from finetunings import errors
from finetunings.models import IdempotencyKey

KEY_MAX_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """Either this request now owns the key (``record``), or it gets a stored answer."""

    record: IdempotencyKey | None = None
    replay: IdempotencyKey | None = None


def idempotency_key_problem(key: str) -> str | None:
    """Why a header value cannot be a key (None when it can)."""
    if not key:
        return "The Idempotency-Key header is empty."
    if len(key) > KEY_MAX_LENGTH:
        return f"The Idempotency-Key header is longer than {KEY_MAX_LENGTH} characters."
    if not all(" " <= character <= "~" for character in key):
        return "The Idempotency-Key header may only hold printable ASCII characters."
    return None


def request_fingerprint(*, method: str, path: str, content) -> str:
    """A digest of what a request asks for: the same retry gives the same digest."""
    canonical = json.dumps(
        [method.upper(), path.rstrip("/"), content],
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _expired_before():
    return timezone.now() - timedelta(seconds=settings.FINETUNING_IDEMPOTENCY_TTL_SECONDS)


def idempotency_key_claim(*, scope: str, key: str, fingerprint: str) -> Claim:
    """Claim ``key`` for this request, or find the answer an earlier request got.

    Raises ``IdempotencyKeyReused`` when the key was used for a different request, and
    ``IdempotencyKeyInUse`` when the first request is still running after the wait.
    """
    deadline = time.monotonic() + settings.FINETUNING_IDEMPOTENCY_WAIT_SECONDS
    pause = 0.02
    while True:
        now = timezone.now()
        lease = now + timedelta(seconds=settings.FINETUNING_IDEMPOTENCY_LEASE_SECONDS)
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    scope=scope, key=key, request_fingerprint=fingerprint, locked_until=lease
                )
            # Forget expired keys now and then: one indexed delete, only when a key is new.
            IdempotencyKey.objects.filter(created_at__lt=_expired_before()).delete()
            return Claim(record=record)
        except IntegrityError:
            pass  # the key exists: a retry, a mistake, or a request running right now

        record = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if record is None:
            continue  # released or expired meanwhile: claim it again
        if record.created_at < _expired_before():
            IdempotencyKey.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.request_fingerprint != fingerprint:
            raise errors.IdempotencyKeyReused()
        if record.response_status is not None:
            return Claim(replay=record)
        if record.locked_until and record.locked_until < now:
            # The first request died before answering and nothing it did was kept (creating
            # requests keep their work and their answer in one transaction): take it over.
            if IdempotencyKey.objects.filter(
                pk=record.pk, response_status=None, locked_until=record.locked_until
            ).update(locked_until=lease):
                record.locked_until = lease
                return Claim(record=record)
            continue
        if time.monotonic() > deadline:
            raise errors.IdempotencyKeyInUse()
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def idempotency_key_complete(*, record: IdempotencyKey, status: int, body) -> None:
    """Keep the answer given to the key's first request, for its retries."""
    body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    IdempotencyKey.objects.filter(pk=record.pk, response_status=None).update(
        response_status=status, response_body=body, locked_until=None
    )


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Free a key whose request did nothing that lasts, so that a retry does the work."""
    IdempotencyKey.objects.filter(pk=record.pk, response_status=None).delete()
