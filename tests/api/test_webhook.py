"""POST /api/v1/webhooks/openai: signed by OpenAI, makes the job due for the next pass."""

import time
from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from finetunings import worker
from finetunings.api.webhooks import OUTCOME_DUPLICATE, OUTCOME_IGNORED, OUTCOME_PROCESSED
from finetunings.errors import ErrorCode
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.providers.openai import NO_WEBHOOK_SECRET_MESSAGE
from tests.fakes.openai_server import LIST, RETRIEVE
from tests.helpers.webhooks import SECRET, event_body, signed_headers

pytestmark = pytest.mark.usefixtures("no_network")

URL = "/api/v1/webhooks/openai"


@pytest.fixture
def client():
    # CSRF checks on, as for a browser: the webhook route must not need a token.
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def submitted(settings, openai_provider, finetuning):
    settings.OPENAI_WEBHOOK_SECRET = SECRET
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    finetuning.refresh_from_db()
    openai_provider.set_status(finetuning.finetuning_job_id, "succeeded", fine_tuned_model="ft:m")
    return finetuning


def post(client, body, **headers):
    return client.post(URL, data=body, content_type="application/json", **headers)


def test_a_signed_event_makes_no_provider_call_and_the_next_pass_refreshes_the_job(
    client, openai_provider, submitted
):
    body = event_body(submitted.finetuning_job_id)
    calls_before = list(openai_provider.calls)

    response = post(client, body, **signed_headers(body, event_id="evt_0001"))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": OUTCOME_PROCESSED}
    assert openai_provider.calls == calls_before  # the request never waits on the provider
    submitted.refresh_from_db()
    assert submitted.status == FinetuningStatus.VALIDATING_FILES
    assert submitted.last_polled_at is None  # due now, though polled a moment ago

    worker.run_once(worker_id="test-worker", log=lambda line: None)

    submitted.refresh_from_db()
    assert submitted.status == FinetuningStatus.SUCCEEDED
    assert submitted.model_id == "ft:m"


def test_a_bad_signature_is_refused_and_changes_nothing(client, openai_provider, submitted):
    body = event_body(submitted.finetuning_job_id)
    headers = signed_headers(body, event_id="evt_0001", secret="whsec_" + "A" * 40)

    response = post(client, body, **headers)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.WEBHOOK_INVALID_SIGNATURE
    assert Finetuning.objects.get(pk=submitted.pk).status == FinetuningStatus.VALIDATING_FILES
    assert openai_provider.calls_to(RETRIEVE) == []


def test_a_stale_signature_is_refused_and_changes_nothing(client, openai_provider, submitted):
    body = event_body(submitted.finetuning_job_id)
    headers = signed_headers(body, event_id="evt_0001", timestamp=int(time.time()) - 3600)

    response = post(client, body, **headers)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "too old" in response.json()["detail"]
    assert Finetuning.objects.get(pk=submitted.pk).status == FinetuningStatus.VALIDATING_FILES
    assert openai_provider.calls_to(RETRIEVE) == []


def test_missing_signature_headers_are_refused(client, submitted):
    response = post(client, event_body(submitted.finetuning_job_id))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.WEBHOOK_INVALID_SIGNATURE


def test_a_repeated_event_changes_nothing_more(client, openai_provider, submitted):
    body = event_body(submitted.finetuning_job_id)
    first = post(client, body, **signed_headers(body, event_id="evt_0001"))

    again = post(client, body, **signed_headers(body, event_id="evt_0001"))

    assert first.json() == {"status": OUTCOME_PROCESSED}
    assert again.status_code == HTTPStatus.OK
    assert again.json() == {"status": OUTCOME_DUPLICATE}
    assert openai_provider.calls_to(RETRIEVE) == []
    assert openai_provider.calls_to(LIST) == []


def test_an_event_for_an_unknown_job_is_acknowledged_and_ignored(client, submitted):
    body = event_body("ftjob-not-ours")

    response = post(client, body, **signed_headers(body, event_id="evt_0002"))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": OUTCOME_IGNORED}


def test_without_a_secret_the_webhook_answers_503_in_the_api_error_shape(
    settings, client, submitted
):
    settings.OPENAI_WEBHOOK_SECRET = None
    body = event_body(submitted.finetuning_job_id)

    response = post(client, body, **signed_headers(body, event_id="evt_0001"))

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "detail": NO_WEBHOOK_SECRET_MESSAGE,
        "code": ErrorCode.WEBHOOK_NOT_CONFIGURED,
    }
    assert Finetuning.objects.get(pk=submitted.pk).status == FinetuningStatus.VALIDATING_FILES


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "null",
        "42",
        '"text"',
        '{"data": "x"}',
        '{"id": "evt_1", "type": "fine_tuning.job.succeeded", "data": "x"}',
        '{"id": 7, "type": "fine_tuning.job.succeeded", "data": {"id": "ftjob-1"}}',
        '{"id": "evt_1", "type": ["x"], "data": {"id": "ftjob-1"}}',
        '{"id": "evt_1", "type": "fine_tuning.job.succeeded", "data": {"id": 5}}',
        '{"id": "evt_1", "type": "fine_tuning.job.succeeded", "data": {"id": "\\ud800"}}',
        '{"id": "evt_1", "type": "fine_tuning.job.succeeded", "data": {"id": "a\\u0000b"}}',
        '{"id": "evt_\\ud800", "type": "fine_tuning.job.succeeded", "data": {"id": "ftjob-1"}}',
        "not json at all",
        '{"id": "evt_1",',
    ],
)
def test_a_signed_but_malformed_body_is_a_400_with_its_own_code(
    client, openai_provider, submitted, body
):
    response = post(client, body, **signed_headers(body, event_id="evt_0009"))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.WEBHOOK_INVALID_BODY
    assert Finetuning.objects.get(pk=submitted.pk).status == FinetuningStatus.VALIDATING_FILES
    assert openai_provider.calls_to(RETRIEVE) == []
