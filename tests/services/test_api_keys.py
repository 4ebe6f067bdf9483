"""API keys: the raw key is returned once and only its hash kept; revoked keys stop working;
use is recorded at most once a minute."""

from datetime import timedelta

from django.utils import timezone

from finetunings import selectors, services
from finetunings.models import APIKey


def test_a_new_key_is_found_by_its_raw_form_and_only_its_hash_is_stored(db):
    api_key, raw_key = services.api_key_create(name="nightly-import")

    stored = APIKey.objects.get(pk=api_key.pk)
    assert raw_key.startswith(f"ftk_{stored.prefix}_")
    assert raw_key not in (stored.key_hash, stored.prefix, stored.name)
    assert stored.key_hash == services.hash_api_key(raw_key)
    assert selectors.api_key_for(raw_key) == api_key


def test_a_revoked_key_is_no_longer_found_and_a_second_revoke_keeps_the_first_time(db):
    api_key, raw_key = services.api_key_create(name="ci")

    services.api_key_revoke(api_key=api_key)
    first = APIKey.objects.get(pk=api_key.pk).revoked_at
    services.api_key_revoke(api_key=api_key)

    assert selectors.api_key_for(raw_key) is None
    assert first is not None
    assert APIKey.objects.get(pk=api_key.pk).revoked_at == first


def test_use_is_recorded_at_most_once_a_minute(db):
    api_key, _raw_key = services.api_key_create(name="ci")

    services.api_key_touch(api_key=api_key)
    first = APIKey.objects.get(pk=api_key.pk).last_used_at
    services.api_key_touch(api_key=api_key)
    assert APIKey.objects.get(pk=api_key.pk).last_used_at == first

    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=two_minutes_ago)
    services.api_key_touch(api_key=api_key)
    assert APIKey.objects.get(pk=api_key.pk).last_used_at > two_minutes_ago
