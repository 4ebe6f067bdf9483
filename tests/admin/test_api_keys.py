"""API keys in the admin: shown once when created, kept as a hash, revoked with an action."""

from http import HTTPStatus

from django.urls import reverse

from finetunings import selectors
from finetunings.admin.api_keys import API_KEY_CREATED, API_KEY_REVOKED
from finetunings.models import (
    APIKey,
)
from tests.helpers.admin import (
    change_url,
    changelist_url,
    messages_of,
)


def test_an_api_key_created_in_the_admin_is_shown_once_and_only_its_hash_kept(superuser_client, db):
    response = superuser_client.post(
        reverse("admin:finetunings_apikey_add"), {"name": "nightly-import"}, follow=True
    )

    api_key = APIKey.objects.get()
    (created_message,) = [m for m in messages_of(response) if "Copy it now" in m]
    raw_key = created_message.rsplit(" ", 1)[-1]
    assert created_message == API_KEY_CREATED.format(name="nightly-import", raw_key=raw_key)
    assert selectors.api_key_for(raw_key) == api_key
    assert raw_key not in api_key.key_hash

    page = superuser_client.get(change_url(api_key, "apikey"))
    assert page.status_code == HTTPStatus.OK
    assert api_key.key_hash not in page.text
    assert raw_key not in page.text
    listed = superuser_client.get(changelist_url("apikey"))
    assert api_key.prefix in listed.text
    assert raw_key not in listed.text


def test_api_keys_are_revoked_with_the_action(superuser_client, api_key):
    key, raw_key = api_key

    response = superuser_client.post(
        changelist_url("apikey"),
        {"action": "revoke_api_keys", "_selected_action": [key.pk], "index": 0},
        follow=True,
    )

    assert messages_of(response) == [API_KEY_REVOKED.format(count=1)]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert selectors.api_key_for(raw_key) is None
    live = superuser_client.get(changelist_url("apikey"), {"revoked": "no"})
    revoked = superuser_client.get(changelist_url("apikey"), {"revoked": "yes"})
    assert list(live.context["cl"].result_list) == []
    assert list(revoked.context["cl"].result_list) == [key]
