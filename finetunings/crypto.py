"""Encryption of secrets at rest (database connection URIs), with Fernet.

Fernet (from ``cryptography``) gives authenticated encryption with a versioned token format.
Keys come from FINETUNING_ENCRYPTION_KEY (comma-separated, newest first: MultiFernet
decrypts with any of them and encrypts with the first, which is how keys are rotated). In
development, without that variable, a key is derived from the Django secret key.
"""

import base64
import hashlib
from contextlib import contextmanager
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

UNDECRYPTABLE_MESSAGE = (
    "A stored secret cannot be decrypted with any key of FINETUNING_ENCRYPTION_KEY."
)


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


@contextmanager
def _opening():
    # A stored token that no configured key opens means the keys are wrong, not the row.
    try:
        yield
    except InvalidToken as exc:
        raise ImproperlyConfigured(UNDECRYPTABLE_MESSAGE) from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    with _opening():
        return _fernet().decrypt(token.encode()).decode()


def is_current(token: str) -> bool:
    """Whether the token is encrypted with the newest key already."""
    try:
        _fernet()._fernets[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key (it may be under any configured key)."""
    with _opening():
        return _fernet().rotate(token.encode()).decode()


def reset_cache() -> None:
    """For tests that change the keys."""
    _fernet.cache_clear()
