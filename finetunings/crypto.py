"""Encryption of secrets at rest (database connection URIs), with Fernet.

Fernet (from ``cryptography``) gives authenticated encryption with a versioned token format.
Keys come from FINETUNING_ENCRYPTION_KEY (comma-separated, newest first: MultiFernet
decrypts with any of them and encrypts with the first, which is how keys are rotated). In
development, without that variable, a key is derived from the Django secret key.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FINETUNING_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(b"finetunings.crypto:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FINETUNING_ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with the configured FINETUNING_ENCRYPTION_KEY."
        ) from exc


def is_current(token: str) -> bool:
    """Whether the token is encrypted with the newest key already."""
    try:
        _fernet()._fernets[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key (it may be under any configured key)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key of FINETUNING_ENCRYPTION_KEY."
        ) from exc


def reset_cache() -> None:
    """For tests that change the keys."""
    _fernet.cache_clear()
