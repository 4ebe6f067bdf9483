"""The Idempotency-Key header: a retried request answers the first answer, and does it once."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from finetunings import errors, services
from finetunings.errors import ErrorCode
from finetunings.models import (
    DatabaseConnection,
    Finetuning,
    FinetuningStatus,
    GoldenRecord,
    IdempotencyKey,
)
from tests.helpers.threads import send_at_once

JOBS = "/api/v1/finetunings"


def start_job(api, connection, key, **body):
    return api.post(
        JOBS,
        {"db_connection_id": connection.pk, **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retried_job_creation_returns_the_first_answer_and_starts_one_job(
    api, connection, golden_records
):
    first = start_job(api, connection, "retry-1", alias="nightly")
    again = start_job(api, connection, "retry-1", alias="nightly")

    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Finetuning.objects.count() == 1


def test_the_key_may_be_sent_as_a_quoted_string(api, connection, golden_records):
    first = start_job(api, connection, '"abc"')
    again = start_job(api, connection, "abc")

    assert again.json()["id"] == first.json()["id"]
    assert Finetuning.objects.count() == 1


def test_a_new_key_starts_a_new_job(api, connection, golden_records):
    first = start_job(api, connection, "one")
    second = start_job(api, connection, "two")

    assert first.json()["id"] != second.json()["id"]
    assert Finetuning.objects.count() == 2


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    api, connection, golden_records
):
    start_job(api, connection, "k", alias="first")

    response = start_job(api, connection, "k", alias="second")

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json() == {
        "detail": errors.IDEMPOTENCY_KEY_REUSED_MESSAGE,
        "code": ErrorCode.IDEMPOTENCY_KEY_REUSED,
    }
    assert list(Finetuning.objects.values_list("alias", flat=True)) == ["first"]


def test_the_same_key_on_another_route_is_refused(api, connection, golden_records):
    start_job(api, connection, "k")

    response = api.post(
        "/api/v1/database-connections",
        {"alias": "x", "dialect": "sqlite", "connection_uri": "sqlite:///x.db"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert not DatabaseConnection.objects.filter(alias="x").exists()


def test_keys_belong_to_their_caller(api, connection, golden_records):
    _, other_key = services.api_key_create(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")

    mine = start_job(api, connection, "shared-name")
    theirs = start_job(other, connection, "shared-name")

    assert theirs.status_code == HTTPStatus.CREATED
    assert theirs.json()["id"] != mine.json()["id"]


def test_a_key_older_than_a_day_is_forgotten(api, connection, golden_records):
    first = start_job(api, connection, "old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = start_job(api, connection, "old")

    assert again.status_code == HTTPStatus.CREATED
    assert again.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in again


def test_a_refused_request_is_answered_the_same_on_retry(api, connection, golden_records):
    first = start_job(api, connection, "bad", base_llm={"model_name": "no-such-model"})
    again = start_job(api, connection, "bad", base_llm={"model_name": "no-such-model"})

    assert first.status_code == again.status_code == HTTPStatus.BAD_REQUEST
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Finetuning.objects.count() == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_an_unusable_key_is_a_400_that_says_why(api, connection, golden_records, key):
    response = api.post(
        JOBS,
        {"db_connection_id": connection.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1"),
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_INVALID
    assert "Idempotency-Key" in response.json()["detail"]
    assert Finetuning.objects.count() == 0


@override_settings(FINETUNING_IDEMPOTENCY_WAIT_SECONDS=0)
def test_a_retry_while_the_first_request_runs_is_a_409(api, api_key, connection, golden_records):
    start_job(api, connection, "busy")
    # As if the first request were still being answered.
    IdempotencyKey.objects.update(
        response_status=None,
        response_body=None,
        locked_until=timezone.now() + timedelta(minutes=1),
    )

    response = start_job(api, connection, "busy")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_IN_USE
    assert Finetuning.objects.count() == 1


def test_a_key_whose_request_died_is_taken_over_after_its_lease(api, connection, golden_records):
    IdempotencyKey.objects.create(
        scope="placeholder", key="died", request_fingerprint="", locked_until=timezone.now()
    )
    start_job(api, connection, "died")  # claims it, so the row has this caller and body
    row = IdempotencyKey.objects.get(key="died", scope__startswith="api-key:")
    Finetuning.objects.all().delete()  # the dead request's work was rolled back with it
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=None, locked_until=timezone.now() - timedelta(seconds=1)
    )

    response = start_job(api, connection, "died")

    assert response.status_code == HTTPStatus.CREATED
    assert Finetuning.objects.count() == 1


def test_golden_records_bulk_create_is_not_repeated(api, connection):
    records = [
        {"db_connection_id": connection.pk, "question": f"q{i}", "sql": f"SELECT {i}"}
        for i in range(3)
    ]
    first = api.post("/api/v1/golden-records", records, format="json", HTTP_IDEMPOTENCY_KEY="g")
    again = api.post("/api/v1/golden-records", records, format="json", HTTP_IDEMPOTENCY_KEY="g")

    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert again.json() == first.json()
    assert GoldenRecord.objects.count() == 3


def test_connection_create_is_not_repeated(api):
    body = {"alias": "warehouse", "dialect": "sqlite", "connection_uri": "sqlite:///w.db"}
    first = api.post("/api/v1/database-connections", body, format="json", HTTP_IDEMPOTENCY_KEY="c")
    again = api.post("/api/v1/database-connections", body, format="json", HTTP_IDEMPOTENCY_KEY="c")

    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert again.json() == first.json()  # not a 400 "alias already exists"
    assert DatabaseConnection.objects.filter(alias="warehouse").count() == 1


def test_a_retried_cancel_returns_the_first_answer(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    url = f"{JOBS}/{job.pk}/cancel"

    first = api.post(url, {"metadata": {"why": "typo"}}, format="json", HTTP_IDEMPOTENCY_KEY="x")
    again = api.post(url, {"metadata": {"why": "typo"}}, format="json", HTTP_IDEMPOTENCY_KEY="x")

    assert first.status_code == again.status_code == HTTPStatus.OK
    assert again.json() == first.json()
    assert provider.calls_to("cancel_job") == [remote.id]


def test_a_cancel_the_provider_could_not_take_is_done_on_retry(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    url = f"{JOBS}/{job.pk}/cancel"
    provider.unreachable("cancel_job")

    first = api.post(url, format="json", HTTP_IDEMPOTENCY_KEY="later")
    provider.fail_always.clear()
    again = api.post(url, format="json", HTTP_IDEMPOTENCY_KEY="later")

    assert first.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert again.status_code == HTTPStatus.OK
    assert again.json()["status"] == "cancelled"
    assert "Idempotent-Replayed" not in again


def test_staff_sessions_have_their_own_keys(client, make_staff, connection, golden_records):
    staff = make_staff("stan", "add_finetuning", "view_finetuning")
    client.force_login(staff)
    body = {"db_connection_id": connection.pk}

    first = client.post(JOBS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="s")
    again = client.post(JOBS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="s")

    assert first.status_code == HTTPStatus.CREATED
    assert again.json()["id"] == first.json()["id"]
    assert IdempotencyKey.objects.get().scope == f"user:{staff.pk}"


def test_the_schema_documents_the_header_on_every_creating_post_and_cancel(anonymous_api, db):
    schema = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    operations = [
        schema["paths"]["/api/v1/finetunings"]["post"],
        schema["paths"]["/api/v1/golden-records"]["post"],
        schema["paths"]["/api/v1/database-connections"]["post"],
        schema["paths"]["/api/v1/finetunings/{id}/cancel"]["post"],
    ]

    for operation in operations:
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [h["name"] for h in headers] == ["Idempotency-Key"]
        assert "422" in operation["responses"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_start_one_job(connection, golden_records, api_key):
    count = 20

    def post(client):
        response = start_job(client, connection, "storm")
        return (response.status_code, response.json().get("id"))

    results = send_at_once([post] * count, api_key[1])

    job = Finetuning.objects.get()
    assert results == [(HTTPStatus.CREATED, job.pk)] * count
