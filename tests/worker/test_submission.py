"""Submitting jobs through faults: nothing is lost, nothing is paid for twice."""

import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.utils import timezone

from finetunings import services, training_data, worker
from finetunings.models import (
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningStatus,
    ProviderPause,
)
from finetunings.providers import reset_providers
from finetunings.providers.openai import NOT_CONFIGURED_MESSAGE
from tests.fakes.openai_fixtures import SLOWER_THAN_TIMEOUT
from tests.fakes.openai_server import CREATE, LIST, RETRIEVE, UPLOAD

FAULTS = {
    "429": lambda fake, op: fake.fail_next(op, 429),
    "500": lambda fake, op: fake.fail_next(op, 500),
    "timeout": lambda fake, op: fake.delay_next(op, SLOWER_THAN_TIMEOUT),
}


def assert_waits_not_failed(finetuning, report, why):
    """The pass did not fail the job: it waits for another try, and its status says ``why``."""
    finetuning.refresh_from_db()
    assert report.failed == []
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    assert finetuning.error is None
    assert why in finetuning.status_message


@pytest.mark.parametrize("operation", [UPLOAD, CREATE])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_passing_failure_backs_off_then_submits_exactly_one_provider_job(
    run_pass, make_due, openai_provider, finetuning, operation, fault
):
    FAULTS[fault](openai_provider, operation)

    report, lines = run_pass()

    finetuning.refresh_from_db()
    assert report.backed_off == [finetuning.pk]
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    assert finetuning.finetuning_job_id is None
    assert finetuning.next_attempt_at > timezone.now()
    assert "will try again at" in finetuning.status_message
    assert finetuning.lease_owner is None
    assert any(finetuning.status_message in line for line in lines)
    assert FinetuningEvent.objects.filter(
        finetuning=finetuning, kind=FinetuningEventKind.ERROR
    ).exists()

    run_pass()
    assert Finetuning.objects.get(pk=finetuning.pk).finetuning_job_id is None  # not due yet
    make_due(finetuning)
    report, _ = run_pass()

    finetuning.refresh_from_db()
    assert report.submitted == [finetuning.pk]
    assert finetuning.status_message is None
    assert len(openai_provider.jobs_for(finetuning.pk)) == 1
    assert finetuning.finetuning_job_id == openai_provider.jobs_for(finetuning.pk)[0]["id"]


@pytest.mark.parametrize("lose", ["response lost (500)", "timeout"])
def test_an_ambiguous_create_is_looked_up_before_creating_again(
    run_pass, make_due, openai_provider, finetuning, lose
):
    if lose == "timeout":
        openai_provider.delay_next(CREATE, SLOWER_THAN_TIMEOUT)
    else:
        openai_provider.lose_next_response(CREATE)

    run_pass()
    assert len(openai_provider.jobs_for(finetuning.pk)) == 1  # created, but we did not hear
    assert Finetuning.objects.get(pk=finetuning.pk).finetuning_job_id is None
    make_due(finetuning)
    run_pass()

    finetuning.refresh_from_db()
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert finetuning.finetuning_job_id == remote["id"]
    assert len(openai_provider.calls_to(CREATE)) == 1
    assert len(openai_provider.calls_to(UPLOAD)) == 1


def test_a_refused_create_fails_the_job_with_the_providers_message(
    run_pass, openai_provider, finetuning
):
    openai_provider.fail_next(CREATE, 400)

    report, _ = run_pass()

    finetuning.refresh_from_db()
    assert report.failed == [finetuning.pk]
    assert finetuning.status == FinetuningStatus.FAILED
    assert finetuning.error == "The provider refused the request (400): Invalid request."


@pytest.mark.parametrize("operation", [LIST, RETRIEVE])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_refresh_changes_nothing_and_the_next_one_catches_up(
    settings, run_pass, make_due, openai_provider, finetuning, operation, fault
):
    run_pass()
    finetuning.refresh_from_db()
    openai_provider.set_status(finetuning.finetuning_job_id, "running")
    if operation == RETRIEVE:
        settings.FINETUNING_WORKER_LIST_MAX_PAGES = 0  # jobs not found by listing
    FAULTS[fault](openai_provider, operation)
    make_due(finetuning)

    _, lines = run_pass()

    assert Finetuning.objects.get(pk=finetuning.pk).status == FinetuningStatus.VALIDATING_FILES
    if operation == LIST or fault == "429":
        # The list covers the whole batch, and a 429 pauses the provider: the batch waits.
        assert any(line.startswith("refresh stopped:") or "paused" in line for line in lines)
    else:
        # A retrieve is one job's: that job says why, and stays due for the next pass.
        assert any(line.startswith(f"{finetuning.pk}: the provider cannot show") for line in lines)
        assert "cannot show this job" in Finetuning.objects.get(pk=finetuning.pk).status_message
    ProviderPause.objects.update(paused_until=timezone.now())  # a 429's Retry-After has passed
    run_pass()
    assert Finetuning.objects.get(pk=finetuning.pk).status == FinetuningStatus.RUNNING


def test_without_an_api_key_jobs_wait_in_the_queue_with_the_reason(
    settings, run_pass, openai_provider, finetuning
):
    settings.OPENAI_API_KEY = None
    from finetunings.providers import reset_providers

    reset_providers()

    report, lines = run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert finetuning.status_message == NOT_CONFIGURED_MESSAGE
    assert report.waiting_reason == NOT_CONFIGURED_MESSAGE
    assert NOT_CONFIGURED_MESSAGE in lines[0]
    assert openai_provider.calls == []


def test_a_wrong_api_key_keeps_jobs_waiting_until_it_is_fixed(
    settings, run_pass, make_due, openai_provider, finetuning
):
    from finetunings.providers import reset_providers

    settings.OPENAI_API_KEY = "revoked-key"
    reset_providers()

    report, lines = run_pass()

    assert_waits_not_failed(finetuning, report, "Check OPENAI_API_KEY")
    assert any("Check OPENAI_API_KEY" in line for line in lines)

    settings.OPENAI_API_KEY = "test-key"
    reset_providers()
    make_due(finetuning)
    report, _ = run_pass()

    assert report.submitted == [finetuning.pk]
    assert len(openai_provider.jobs_for(finetuning.pk)) == 1


def test_the_command_logs_why_jobs_wait_without_an_api_key(
    settings, caplog, openai_provider, finetuning
):
    settings.OPENAI_API_KEY = None
    from finetunings.providers import reset_providers

    reset_providers()

    with caplog.at_level("INFO", logger="finetunings.worker"):
        call_command("finetuning_worker", "--once")

    assert NOT_CONFIGURED_MESSAGE in caplog.text
    assert Finetuning.objects.get(pk=finetuning.pk).status == FinetuningStatus.QUEUED


def test_the_command_submits_and_says_so(caplog, openai_provider, finetuning):
    with caplog.at_level("INFO", logger="finetunings.worker"):
        call_command("finetuning_worker", "--once")

    out = caplog.text
    finetuning.refresh_from_db()
    assert f"{finetuning.pk}: submitted as provider job {finetuning.finetuning_job_id}" in out


def test_deleted_golden_records_fail_the_job_before_any_upload(
    run_pass, openai_provider, finetuning, golden_records
):
    services.golden_record_delete(golden_record=golden_records[0])
    services.golden_record_delete(golden_record=golden_records[1])

    run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.FAILED
    assert finetuning.error == training_data.MISSING_RECORDS_MESSAGE.format(missing=2, total=12)
    assert openai_provider.calls == []


def test_an_example_over_the_models_token_limit_fails_the_job_before_any_upload(
    settings, run_pass, openai_provider, finetuning
):
    settings.FINETUNING_MODEL_TOKEN_LIMITS = {finetuning.model_name: 20}

    run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.FAILED
    assert f"exceed {finetuning.model_name}'s limit of 20 tokens per example" in finetuning.error
    assert openai_provider.calls == []


def test_the_summary_is_kept_on_the_job(
    monkeypatch, tmp_path, run_pass, openai_provider, finetuning
):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))

    run_pass()

    finetuning.refresh_from_db()
    summary = finetuning.training_summary
    assert summary["examples"] == 12
    assert summary["tokens"] > 12 * 20
    assert summary["n_epochs_for_estimate"] == 3  # "auto"
    assert summary["estimated_billed_tokens"] == summary["tokens"] * 3
    assert summary["token_counting"] == training_data.ESTIMATE_LABEL
    assert summary["sha256"] == finetuning.training_file_sha256
    assert summary["bytes"] == finetuning.training_file_size


@pytest.mark.parametrize("operation", [UPLOAD, CREATE])
@pytest.mark.parametrize("status", [HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.CONFLICT])
def test_a_provider_timeout_or_lock_conflict_is_retried_not_a_failed_job(
    run_pass, make_due, openai_provider, finetuning, operation, status
):
    openai_provider.fail_next(operation, status)

    report, _ = run_pass()

    assert_waits_not_failed(finetuning, report, "will try again at")
    make_due(finetuning)
    run_pass()
    assert len(openai_provider.jobs_for(finetuning.pk)) == 1


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
