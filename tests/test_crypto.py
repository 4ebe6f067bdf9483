"""Secrets at rest: what is stored hides the secret, and keys rotate without losing any."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from finetunings import crypto

SECRET = "postgresql://reader:s3cret@db.internal:5432/shop"


@pytest.fixture
def keys(settings):
    """Sets the configured keys (newest first), as FINETUNING_ENCRYPTION_KEY does."""

    def configure(*configured: str) -> None:
        settings.FINETUNING_ENCRYPTION_KEYS = list(configured)
        crypto.reset_cache()

    yield configure
    crypto.reset_cache()  # the next test reads its own settings, not these keys


def test_a_secret_comes_back_as_it_was_stored(keys):
    keys(Fernet.generate_key().decode())

    assert crypto.decrypt(crypto.encrypt(SECRET)) == SECRET


def test_the_stored_token_does_not_show_the_secret_and_differs_each_time(keys):
    keys(Fernet.generate_key().decode())

    first, second = crypto.encrypt(SECRET), crypto.encrypt(SECRET)

    assert "s3cret" not in first
    assert first != second  # a fresh IV each time: equal secrets are not seen as equal


def test_without_a_configured_key_one_is_derived_from_the_django_secret_key(keys, settings):
    keys()
    token = crypto.encrypt(SECRET)
    assert crypto.decrypt(token) == SECRET

    settings.SECRET_KEY = "another-secret-key-for-another-deployment"
    crypto.reset_cache()
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        crypto.decrypt(token)


def test_a_malformed_key_is_a_configuration_error_that_says_how_to_make_one(keys):
    keys("not-a-fernet-key")

    with pytest.raises(ImproperlyConfigured, match="Fernet.generate_key"):
        crypto.encrypt(SECRET)


def test_a_token_under_an_unknown_key_is_a_configuration_error(keys):
    keys(Fernet.generate_key().decode())
    token = crypto.encrypt(SECRET)
    keys(Fernet.generate_key().decode())

    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        crypto.decrypt(token)
    with pytest.raises(ImproperlyConfigured, match="any key"):
        crypto.rotate(token)


def test_rotation_re_encrypts_under_the_newest_key_so_the_old_one_can_be_dropped(keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(old)
    stored = crypto.encrypt(SECRET)
    assert crypto.is_current(stored)

    keys(new, old)  # the new key first: it encrypts, both decrypt
    assert crypto.decrypt(stored) == SECRET
    assert not crypto.is_current(stored)
    rotated = crypto.rotate(stored)
    assert crypto.is_current(rotated)
    assert crypto.is_current(crypto.encrypt(SECRET))  # new secrets go under the new key

    keys(new)  # the old key dropped
    assert crypto.decrypt(rotated) == SECRET
    with pytest.raises(ImproperlyConfigured):
        crypto.decrypt(stored)


def test_rotating_a_current_token_keeps_the_secret(keys):
    keys(Fernet.generate_key().decode())
    stored = crypto.encrypt(SECRET)

    rotated = crypto.rotate(stored)

    assert crypto.is_current(rotated)
    assert crypto.decrypt(rotated) == SECRET
