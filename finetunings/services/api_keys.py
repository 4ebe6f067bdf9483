"""API keys: created with a raw key shown once, stored as a hash, revoked, touched."""

import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from finetunings.models import APIKey, hash_api_key

API_KEY_PREFIX = "ftk_"


def api_key_create(*, name: str, created_by=None) -> tuple[APIKey, str]:
    """Create an API key; return it with the raw key, which is never stored or shown again."""
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = APIKey.objects.create(
        name=name, prefix=prefix, key_hash=hash_api_key(raw_key), created_by=created_by
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: APIKey) -> None:
    APIKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now())


# How stale a key's last_used_at may get: one write per key per interval, not per request.
TOUCH_INTERVAL = timedelta(minutes=1)


def api_key_touch_due(api_key: APIKey) -> bool:
    """Whether the key as read was last used over ``TOUCH_INTERVAL`` ago (or never)."""
    last_used = api_key.last_used_at
    return last_used is None or last_used < timezone.now() - TOUCH_INTERVAL


def api_key_touch(*, api_key: APIKey) -> None:
    """Record that a key was used, at most once a minute per key (not a write per request)."""
    now = timezone.now()
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    ).update(last_used_at=now)
