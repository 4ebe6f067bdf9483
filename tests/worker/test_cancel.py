"""Cancelling jobs that run, or are being submitted, at the (fake) OpenAI."""

import threading
from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from rest_framework.test import APIClient

from finetunings import errors, worker
from finetunings.api.exceptions import PROVIDER_UNAVAILABLE_MESSAGE
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus
from finetunings.providers import reset_providers
from finetunings.services import FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE, ORPHAN_CANCELLED_MESSAGE
from tests.fakes.openai_fixtures import SLOWER_THAN_TIMEOUT
from tests.fakes.openai_server import CANCEL, CREATE, UPLOAD
from tests.helpers.api import cancelled_after_the_next_refresh, post_cancel
from tests.helpers.webhooks import SECRET, event_body, signed_headers

WEBHOOK_URL = "/api/v1/webhooks/openai"


def submit_in_background(worker_id):
    try:
        worker.run_once(worker_id=worker_id, log=lambda line: None)
    finally:
        db_connection.close()


def test_cancelling_a_running_job_cancels_it_at_the_provider_once(api, openai_provider, running):
    first = post_cancel(api, running)
    again = post_cancel(api, running)

    assert first.status_code == HTTPStatus.OK
    assert first.json()["status"] == "cancelled"
    assert first.json()["error"] == errors.CANCELLED_BY_USER_MESSAGE
    assert again.status_code == HTTPStatus.OK
    assert openai_provider.calls_to(CANCEL) == [running.finetuning_job_id]
    assert openai_provider.jobs[running.finetuning_job_id]["status"] == "cancelled"


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
def test_a_provider_failure_during_cancel_leaves_the_job_as_it_was(
    api, openai_provider, running, fault
):
    if fault == "timeout":
        openai_provider.delay_next(CANCEL, SLOWER_THAN_TIMEOUT)
    else:
        openai_provider.fail_next(CANCEL, int(fault))

    failed = post_cancel(api, running)

    assert failed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert failed.json()["code"] == errors.ErrorCode.PROVIDER_UNAVAILABLE
    assert failed.json()["detail"].startswith(PROVIDER_UNAVAILABLE_MESSAGE.split("(")[0])
    running.refresh_from_db()
    assert running.status == FinetuningStatus.VALIDATING_FILES
    assert running.cancel_lease_until is None

    retried = post_cancel(api, running)

    assert retried.status_code == HTTPStatus.OK
    assert retried.json()["status"] == "cancelled"
    assert openai_provider.jobs[running.finetuning_job_id]["status"] == "cancelled"


def test_a_cancel_the_provider_did_but_answered_too_late_is_recorded_as_the_users(
    api, openai_provider, running, run_pass, make_due
):
    # The provider stops the job, but its answer comes after the client's timeout: the
    # request cannot know, and says 503. What the provider then reports is that cancel.
    openai_provider.delay_next(CANCEL, SLOWER_THAN_TIMEOUT)

    timed_out = post_cancel(api, running, metadata={"reason": "wrong data set"})
    assert timed_out.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert openai_provider.jobs[running.finetuning_job_id]["status"] == "cancelled"

    job = cancelled_after_the_next_refresh(running, make_due, run_pass)
    assert job.cancelled_by
    assert job.metadata == {"reason": "wrong data set"}


def test_a_wrong_api_key_during_cancel_is_503_and_the_job_is_unchanged(
    api, settings, openai_provider, running
):
    from finetunings.providers import reset_providers

    settings.OPENAI_API_KEY = "revoked-key"
    reset_providers()

    refused = post_cancel(api, running)

    assert refused.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "Check OPENAI_API_KEY" in refused.json()["detail"]
    running.refresh_from_db()
    assert running.status == FinetuningStatus.VALIDATING_FILES
    assert openai_provider.jobs[running.finetuning_job_id]["status"] == "running"


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_submission_leaves_no_provider_job_running(
    api, openai_provider, finetuning
):
    release = openai_provider.pause(CREATE)  # the provider has created the job, not answered
    submitting = threading.Thread(target=submit_in_background, args=("worker-a",))
    submitting.start()
    assert openai_provider.arrived[CREATE].wait(timeout=10)

    response = post_cancel(api, finetuning)
    release.set()
    submitting.join(timeout=10)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "cancelled"
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert remote["status"] == "cancelled"
    assert openai_provider.active_jobs() == []
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.CANCELLED
    assert finetuning.error == errors.CANCELLED_BY_USER_MESSAGE
    assert finetuning.finetuning_job_id == remote["id"]  # shown, for the record
    # The cancel found the provider job by its metadata and stopped it itself, at once.
    assert FinetuningEvent.objects.filter(
        finetuning=finetuning,
        message=FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE.format(job_id=remote["id"]),
    ).exists()
    assert openai_provider.calls_to(CANCEL) == [remote["id"]]


@pytest.mark.django_db(transaction=True)
def test_a_provider_job_created_after_the_cancel_is_cancelled_by_the_worker(
    api, openai_provider, finetuning
):
    release = openai_provider.pause(CREATE, before=True)  # the create is still on its way
    submitting = threading.Thread(target=submit_in_background, args=("worker-a",))
    submitting.start()
    assert openai_provider.arrived[CREATE].wait(timeout=10)

    response = post_cancel(api, finetuning)  # looks for a provider job: there is none yet
    release.set()
    submitting.join(timeout=10)

    assert response.status_code == HTTPStatus.OK
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert remote["status"] == "cancelled"
    assert openai_provider.active_jobs() == []
    assert FinetuningEvent.objects.filter(
        finetuning=finetuning, message=ORPHAN_CANCELLED_MESSAGE.format(job_id=remote["id"])
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_a_late_provider_job_whose_cancel_failed_is_cancelled_by_the_next_pass(
    run_pass, api, openai_provider, finetuning
):
    release = openai_provider.pause(CREATE, before=True)  # it lands after the cancel
    submitting = threading.Thread(target=submit_in_background, args=("worker-a",))
    submitting.start()
    assert openai_provider.arrived[CREATE].wait(timeout=10)
    post_cancel(api, finetuning)
    # The worker cannot stop its provider job now (nor in its clean-up step of that pass).
    openai_provider.fail_next(CANCEL, 500, times=2)
    release.set()
    submitting.join(timeout=10)

    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert remote["status"] == "validating_files"  # still running at the provider
    finetuning.refresh_from_db()
    assert finetuning.finetuning_job_id == remote["id"]
    assert finetuning.provider_status == "validating_files"

    run_pass()

    assert openai_provider.jobs_for(finetuning.pk)[0]["status"] == "cancelled"
    assert Finetuning.objects.get(pk=finetuning.pk).provider_status == "cancelled"
    assert openai_provider.calls_to(CREATE) == [remote["training_file"]]


def test_a_cancel_waiting_on_a_slow_provider_answers_503_within_the_request_deadline(
    api, settings, openai_provider, running
):
    # The provider answers after 3 s; the per-call timeout (30 s) alone would wait for it,
    # but the request's deadline (kept below the web server's timeout) stops first.
    settings.OPENAI_TIMEOUT_SECONDS = 30
    settings.FINETUNING_REQUEST_DEADLINE_SECONDS = 1
    openai_provider.delay_next(CANCEL, 3)
    before = Finetuning.objects.filter(pk=running.pk).values().get()

    response = post_cancel(api, running)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == errors.ErrorCode.PROVIDER_UNAVAILABLE
    assert response["Retry-After"]
    after = Finetuning.objects.filter(pk=running.pk).values().get()
    internal = {"cancel_lease_until": None, "cancel_request": None}
    assert {**after, **internal} == {**before, **internal}
    assert after["cancel_lease_until"] is None
    # A time-out may hide a cancel the provider carried out: the user's request is kept
    # (internally) so that a refresh finding the job cancelled records it as theirs.
    assert after["cancel_request"]["actor"].startswith("api key")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh", ["worker pass", "webhook"])
def test_a_refresh_landing_during_a_cancel_does_not_lose_the_users_cancel(
    settings, api, run_pass, make_due, openai_provider, running, refresh
):
    settings.OPENAI_WEBHOOK_SECRET = SECRET
    # The cancel's answer is held while the refresh lands; under the fixture's short client
    # timeout a slow refresh (a loaded machine, the webhook's signature check) made the
    # cancel time out instead, a 503 this test is not about.
    settings.OPENAI_TIMEOUT_SECONDS = 30
    reset_providers()  # the submitting pass cached a short-timeout client
    release = openai_provider.pause(CANCEL)  # the provider has cancelled, not yet answered
    answers = []

    def cancel_in_background():
        try:
            answers.append(post_cancel(api, running, metadata={"reason": "wrong data set"}))
        finally:
            db_connection.close()

    cancelling = threading.Thread(target=cancel_in_background)
    cancelling.start()
    assert openai_provider.arrived[CANCEL].wait(timeout=10)
    # What the provider now reports reaches us first: by polling, or by its own webhook.
    if refresh == "worker pass":
        make_due(running)
        run_pass()
    else:
        body = event_body(running.finetuning_job_id, kind="fine_tuning.job.cancelled")
        headers = signed_headers(body, event_id="evt_0001")
        APIClient().post(WEBHOOK_URL, data=body, content_type="application/json", **headers)
    release.set()
    cancelling.join(timeout=10)

    [response] = answers
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["error"] == errors.CANCELLED_BY_USER_MESSAGE
    assert body["metadata"] == {"reason": "wrong data set"}
    assert body["cancelled_by"]


def test_a_job_cancelled_while_backing_off_no_longer_promises_a_retry(
    api, run_pass, openai_provider, finetuning
):
    openai_provider.fail_next(UPLOAD, 500)
    run_pass()
    assert "will try again at" in Finetuning.objects.get(pk=finetuning.pk).status_message

    cancelled = post_cancel(api, finetuning)

    assert cancelled.status_code == HTTPStatus.OK
    shown = api.get(f"/api/v1/finetunings/{finetuning.pk}").json()
    assert shown["status"] == "cancelled"
    assert "will try again" not in (shown["status_message"] or "")
