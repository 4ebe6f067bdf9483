"""What every admin page shares: NUL characters in ids, filters and searches are no crash."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.helpers.admin import (
    changelist_url,
    messages_of,
)


@pytest.mark.parametrize("page", ["change", "delete", "history"])
@pytest.mark.parametrize("model", ["finetuning", "databaseconnection", "goldenrecord", "apikey"])
def test_an_object_id_holding_a_nul_character_is_a_missing_object_not_a_crash(
    superuser_client, model, page
):
    # PostgreSQL refuses to even look such an id up (DataError), which was a 500.
    url = reverse(f"admin:finetunings_{model}_{page}", args=["abc\x00"])

    response = superuser_client.get(url)

    if (model, page) == ("apikey", "delete"):
        assert response.status_code == HTTPStatus.FORBIDDEN  # keys are revoked, never deleted
        return
    assert response.status_code == HTTPStatus.FOUND  # to the admin index, "doesn't exist"
    assert "exist" in " ".join(messages_of(superuser_client.get(response.url)))


@pytest.mark.parametrize(
    ("model_name", "params"),
    [
        ("finetuning", {"db_connection": "shop\x00"}),
        ("finetuning", {"provider": "openai\x00"}),
        ("finetuning", {"status__exact": "queued\x00"}),
        ("goldenrecord", {"db_connection": "shop\x00"}),
    ],
    ids=["job-connection", "job-provider", "job-status", "golden-record-connection"],
)
def test_filter_values_with_nul_characters_do_not_crash_the_change_list(
    superuser_client, finetuning, model_name, params
):
    # PostgreSQL only: its text columns cannot hold NUL, so the query fails with a 500.
    superuser_client.raise_request_exception = False

    response = superuser_client.get(changelist_url(model_name), params)

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}
