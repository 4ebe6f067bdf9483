"""An API key's last use is written at most once a minute, not on every request."""

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finetunings.models import APIKey

URL = "/api/v1/database-connections"


def _key_writes(queries) -> int:
    table = APIKey._meta.db_table
    return sum(
        1 for query in queries if query["sql"].startswith("UPDATE") and table in query["sql"]
    )


def _get(api) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        assert api.get(URL).status_code == 200
    return _key_writes(captured.captured_queries)


@pytest.mark.django_db
def test_first_use_of_a_key_records_it(api, api_key):
    assert _get(api) == 1
    assert APIKey.objects.get(pk=api_key[0].pk).last_used_at is not None


@pytest.mark.django_db
def test_requests_within_a_minute_write_nothing_to_the_key(api, api_key):
    _get(api)
    recorded = APIKey.objects.get(pk=api_key[0].pk).last_used_at

    assert [_get(api) for _ in range(3)] == [0, 0, 0]
    assert APIKey.objects.get(pk=api_key[0].pk).last_used_at == recorded


@pytest.mark.django_db
def test_a_request_a_minute_after_the_last_recorded_use_records_it_again(api, api_key):
    long_ago = timezone.now() - timedelta(minutes=1, seconds=5)
    APIKey.objects.filter(pk=api_key[0].pk).update(last_used_at=long_ago)

    assert _get(api) == 1
    assert APIKey.objects.get(pk=api_key[0].pk).last_used_at > long_ago
