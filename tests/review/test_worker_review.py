"""Failing tests from the review of the worker, the OpenAI provider, the training data and
the webhook. Each test drives the real SDK against the fake OpenAI and asserts what a user
(or an operator) would notice."""

import hashlib
import io
import socket
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from django.utils import timezone
from rest_framework.test import APIClient

from finetunings import errors, training_data, worker
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.providers import reset_providers
from tests.api import test_webhook as webhook_tests
from tests.fakes.openai_server import CANCEL, CREATE, LIST, UPLOAD

WEBHOOK_URL = "/api/v1/webhooks/openai"

pytestmark = pytest.mark.usefixtures("no_network")


def cancel(api, finetuning, **body):
    return api.post(f"/api/v1/finetunings/{finetuning.pk}/cancel", body, format="json")


@pytest.fixture
def submitted(run_pass, openai_provider, finetuning):
    """A job the worker has submitted; the provider now runs it."""
    run_pass()
    finetuning.refresh_from_db()
    openai_provider.set_status(finetuning.finetuning_job_id, "running")
    return finetuning


# --- 1. A worker refresh (or a webhook) lands between the provider's cancel and ours ------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh", ["worker pass", "webhook"])
def test_a_refresh_landing_during_a_cancel_does_not_lose_the_users_cancel(
    settings, api, run_pass, make_due, openai_provider, submitted, refresh
):
    settings.OPENAI_WEBHOOK_SECRET = webhook_tests.SECRET
    # The cancel's answer is held while the refresh lands; under the fixture's 0.5 s client
    # timeout a slow refresh (a loaded machine, the webhook's signature check) made the
    # cancel time out instead, a 503 this test is not about.
    settings.OPENAI_TIMEOUT_SECONDS = 30
    reset_providers()  # the worker pass that submitted the job cached a 0.5 s client
    release = openai_provider.pause(CANCEL)  # the provider has cancelled, not yet answered
    answers = []

    def cancel_in_background():
        try:
            answers.append(cancel(api, submitted, metadata={"reason": "wrong data set"}))
        finally:
            db_connection.close()

    cancelling = threading.Thread(target=cancel_in_background)
    cancelling.start()
    assert openai_provider.arrived[CANCEL].wait(timeout=10)
    # What the provider now reports reaches us first: by polling, or by its own webhook.
    if refresh == "worker pass":
        make_due(submitted)
        run_pass()
    else:
        body = webhook_tests.event_body(
            submitted.finetuning_job_id, kind="fine_tuning.job.cancelled"
        )
        headers = webhook_tests.signed_headers(body, event_id="evt_0001")
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


# --- 2. A permanent error while refreshing escapes run_once and kills the worker loop -----


@pytest.mark.parametrize("status", [HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND])
def test_a_refused_list_call_does_not_stop_the_worker(
    run_pass, make_due, openai_provider, submitted, status
):
    openai_provider.fail_next(LIST, status)
    make_due(submitted)

    _, lines = run_pass()  # the command's loop has no guard: an exception here ends it

    assert any(line.startswith("refresh stopped:") for line in lines)
    make_due(submitted)
    run_pass()
    assert Finetuning.objects.get(pk=submitted.pk).status == FinetuningStatus.RUNNING


# --- 3. 408 (request timeout) and 409 (lock timeout) fail the job for good ----------------


@pytest.mark.parametrize("operation", [UPLOAD, CREATE])
@pytest.mark.parametrize("status", [HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.CONFLICT])
def test_a_provider_timeout_or_lock_conflict_is_retried_not_a_failed_job(
    run_pass, make_due, openai_provider, finetuning, operation, status
):
    openai_provider.fail_next(operation, status)

    report, _ = run_pass()

    finetuning.refresh_from_db()
    assert report.failed == []
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    assert finetuning.error is None
    assert "will try again at" in finetuning.status_message
    make_due(finetuning)
    run_pass()
    assert len(openai_provider.jobs_for(finetuning.pk)) == 1


# --- 4. A job the provider cannot show stays active for ever, silently ---------------------


def test_a_job_the_provider_cannot_show_says_why_it_does_not_move(
    run_pass, make_due, openai_provider, submitted
):
    # E.g. OPENAI_API_KEY now belongs to another project: the job is 404 at the provider.
    del openai_provider.jobs[submitted.finetuning_job_id]
    make_due(submitted)

    _, lines = run_pass()

    assert any("cannot show job" in line for line in lines)  # only the worker's log knows
    submitted.refresh_from_db()
    assert submitted.status == FinetuningStatus.VALIDATING_FILES
    assert submitted.status_message  # what the user reads: nothing, for ever


# --- 5. Token counting goes to the network when the local tiktoken cache is bad ------------


@pytest.fixture
def resolved_hosts(monkeypatch):
    """Every host name anything tries to resolve (resolution still fails off loopback)."""
    hosts = []
    guarded = socket.getaddrinfo  # the no_network guard

    def recording(host, *args, **kwargs):
        hosts.append(host)
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return hosts


def test_a_corrupt_cached_encoding_never_makes_the_worker_download(
    settings, monkeypatch, tmp_path, resolved_hosts, finetuning
):
    # An operator pre-seeded the cache for an offline worker, but the file is damaged
    # (truncated copy, a Git LFS pointer, ...). tiktoken then deletes it and downloads the
    # encoding with requests.get(url) and no timeout: on a firewalled host, a hang for ever.
    settings.FINETUNING_TOKEN_COUNTER = "auto"
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    url = training_data.TIKTOKEN_URL.format(
        encoding=training_data._encoding_name(finetuning.model_name)
    )
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"version https://git-lfs\n")

    summary = training_data.write_training_file(finetuning=finetuning, out=io.BytesIO())

    assert summary.examples == len(finetuning.golden_records)
    assert [host for host in resolved_hosts if host not in ("127.0.0.1", "localhost")] == []


# --- 6. A cancelled job keeps telling users that the worker will try again -----------------


def test_a_job_cancelled_while_backing_off_no_longer_promises_a_retry(
    api, run_pass, openai_provider, finetuning
):
    openai_provider.fail_next(UPLOAD, 500)
    run_pass()
    assert "will try again at" in Finetuning.objects.get(pk=finetuning.pk).status_message

    cancelled = cancel(api, finetuning)

    assert cancelled.status_code == HTTPStatus.OK
    shown = api.get(f"/api/v1/finetunings/{finetuning.pk}").json()
    assert shown["status"] == "cancelled"
    assert "will try again" not in (shown["status_message"] or "")


# --- 7. A worker whose lease ran out can still fail a job another worker has submitted ------


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_lost_its_lease_cannot_fail_a_job_another_worker_submitted(
    settings, monkeypatch, openai_provider, finetuning
):
    settings.OPENAI_TIMEOUT_SECONDS = 30  # worker A's create is slow, not timed out
    reset_providers()
    refused, release = threading.Event(), threading.Event()
    create = openai_provider._create

    def first_create_refused_late(payload):
        if not refused.is_set():
            refused.set()
            release.wait(timeout=10)
            return HTTPStatus.BAD_REQUEST, {
                "error": {"message": "Invalid request.", "type": "invalid_request_error"}
            }
        return create(payload)

    monkeypatch.setattr(openai_provider, "_create", first_create_refused_late)

    def worker_a():
        try:
            worker.run_once(worker_id="worker-a", log=lambda line: None)
        finally:
            db_connection.close()

    slow = threading.Thread(target=worker_a)
    slow.start()
    assert refused.wait(timeout=10)
    # Worker A stalls past its lease (a paused VM, a stopped process): B takes the job over.
    Finetuning.objects.filter(pk=finetuning.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    report = worker.run_once(worker_id="worker-b", log=lambda line: None)
    assert report.submitted == [finetuning.pk]
    release.set()  # A now hears the provider's 400 for its own (late) attempt
    slow.join(timeout=10)

    finetuning.refresh_from_db()
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert remote["status"] == "validating_files"  # B's job runs (and costs) at the provider
    assert finetuning.finetuning_job_id == remote["id"]
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    assert finetuning.error is None


# --- 8. One provider job that cannot be cancelled stops the clean-up of all the others -----


def test_one_unstoppable_late_provider_job_does_not_leave_the_others_running(
    run_pass, openai_provider, real_provider, connection, golden_records, make_finetuning
):
    file_id = real_provider.upload_training_file(filename="a.jsonl", file=io.BytesIO(b"{}\n"))
    jobs = []
    for _ in range(2):  # both cancelled while their provider job was being created
        job = make_finetuning(connection, status=FinetuningStatus.CANCELLED)
        remote = real_provider.create_job(
            training_file_id=file_id,
            model=job.model_name,
            hyperparameters={},
            suffix=None,
            metadata={"finetuning_id": job.pk},
        )
        Finetuning.objects.filter(pk=job.pk).update(
            finetuning_job_id=remote.id, provider_status=remote.status
        )
        jobs.append(job)
    older, newer = jobs
    Finetuning.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    # The newer one's provider job is gone at the provider (404 to cancel and to retrieve).
    del openai_provider.jobs[Finetuning.objects.get(pk=newer.pk).finetuning_job_id]

    _, lines = run_pass()
    _, later_lines = run_pass()

    assert any(line.startswith(f"{newer.pk}: provider job") for line in lines), lines
    [still_paid_for] = openai_provider.jobs_for(older.pk)
    assert still_paid_for["status"] == "cancelled"
    # The job the provider no longer has is recorded as gone, not retried on every pass.
    assert Finetuning.objects.get(pk=newer.pk).provider_status == "not_found"
    assert not any(line.startswith(f"{newer.pk}:") for line in later_lines), later_lines
