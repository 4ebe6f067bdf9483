from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from rest_framework.test import APIClient

from finetunings import services
from finetunings.errors import ErrorCode
from finetunings.models import APIKey


@pytest.mark.django_db
def test_no_key_is_401_with_bearer_challenge(anonymous_api):
    response = anonymous_api.get("/api/v1/finetunings")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": ErrorCode.NOT_AUTHENTICATED,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Bearer ftk_wrong_key", "Bearer", "Bearer two parts", "Bearer \u00e9t\u00e9"],
)
def test_wrong_or_malformed_key_is_401(header):
    client = APIClient()
    response = client.get("/api/v1/finetunings", HTTP_AUTHORIZATION=header)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == ErrorCode.AUTHENTICATION_FAILED


def test_good_key_is_accepted_and_its_use_recorded(api, api_key):
    response = api.get("/api/v1/finetunings")

    assert response.status_code == HTTPStatus.OK
    assert APIKey.objects.get(pk=api_key[0].pk).last_used_at is not None


def test_revoked_key_is_refused(api, api_key):
    services.api_key_revoke(api_key=api_key[0])

    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_only_a_hash_of_the_key_is_stored():
    api_key, raw_key = services.api_key_create(name="ci")

    stored = APIKey.objects.filter(pk=api_key.pk).values()[0]
    assert raw_key not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == services.hash_api_key(raw_key)


@pytest.mark.django_db
def test_create_api_key_command_prints_a_working_key_on_its_last_line(capsys):
    call_command("create_api_key", "deploy-bot")

    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/api/v1/finetunings").status_code == HTTPStatus.OK
    assert APIKey.objects.get().name == "deploy-bot"


@pytest.mark.django_db
def test_staff_session_may_use_the_browsable_api(django_user_model):
    staff = django_user_model.objects.create_user("ada", password="pw", is_staff=True)
    # A session is held to the user's model permissions (see test_staff_permissions.py).
    staff.user_permissions.set(Permission.objects.filter(codename="view_finetuning"))
    client = APIClient()
    client.force_login(staff)

    response = client.get("/api/v1/finetunings", HTTP_ACCEPT="text/html")

    assert response.status_code == HTTPStatus.OK
    assert b"Fine-tuning" in response.content


@pytest.mark.django_db
def test_non_staff_session_is_refused(django_user_model):
    user = django_user_model.objects.create_user("bob", password="pw")
    client = APIClient()
    client.force_login(user)

    assert client.get("/api/v1/finetunings").status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_schema_and_docs_need_no_key(anonymous_api):
    schema = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    docs = anonymous_api.get("/api/v1/docs")

    assert schema.status_code == HTTPStatus.OK
    assert "/api/v1/finetunings/{id}/cancel" in schema.json()["paths"]
    assert docs.status_code == HTTPStatus.OK
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # the UI's assets are served locally
