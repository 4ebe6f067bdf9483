"""Who may call the API, and the answers kept for their retried requests."""

import hashlib

from django.conf import settings
from django.db import models

from finetunings.models.base import StoredJSONField, new_id


def hash_api_key(raw_key: str) -> str:
    """What is stored of a key: its SHA-256 (the key is random, so nothing can be guessed)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class APIKey(models.Model):
    """A key for the REST API. Only a SHA-256 hash of the key is stored.

    Keys are 256-bit random strings, so a fast hash is enough: there is nothing to guess.
    The prefix is kept in clear to find the row and to tell keys apart in the admin.
    """

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the first answer given to it, kept for a day.

    Keys are scoped to their caller (an API key or a staff user), so two clients can never
    read each other's answers by guessing a key. ``request_fingerprint`` tells a retry (the
    same request again) from a different request that reuses the key by mistake.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    # Empty while the first request is still being answered.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = StoredJSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # A request that died mid-way leaves its key locked only until then.
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="unique_idempotency_key_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.scope})"
