"""The pass's housekeeping: how often a worker looks for webhook deliveries and evaluations."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings import notifications, worker
from finetunings.models import WebhookDelivery
from finetunings.worker import loop


@pytest.fixture
def notifications_never_checked(monkeypatch):
    monkeypatch.setitem(loop._last_notifications, "at", float("-inf"))
    monkeypatch.setitem(loop._last_sweep, "at", float("-inf"))
    monkeypatch.setitem(loop._last_evaluations, "at", float("-inf"))
    monkeypatch.setitem(loop._last_evaluations, "found", False)


def looks_for_deliveries(queries) -> int:
    """How many times the passes looked for jobs to tell the webhook endpoints about."""
    return sum(
        'FROM "finetunings_webhookendpoint"' in query["sql"] for query in queries.captured_queries
    )


def test_a_busy_worker_looks_for_webhook_deliveries_once_per_interval_not_once_per_batch(
    settings, openai_provider, followed_jobs, notifications_never_checked
):
    settings.FINETUNING_WORKER_REFRESH_BATCH = 1
    settings.FINETUNING_WORKER_WEBHOOK_CHECK_SECONDS = 3600
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    followed_jobs(openai_provider, 3, status="running")
    notifications.webhook_endpoint_create(url="http://127.0.0.1:9/ft")

    with CaptureQueriesContext(db_connection) as queries:
        reports = [worker.run_once(log=lambda line: None) for _ in range(3)]

    assert [report.busy for report in reports] == [True, True, True]
    # The first pass looks (none had for an hour); the two busy ones after it do not.
    assert looks_for_deliveries(queries) == 1


def test_a_worker_that_has_caught_up_looks_for_webhook_deliveries_after_every_pass(
    settings, openai_provider, followed_jobs, notifications_never_checked
):
    settings.FINETUNING_WORKER_WEBHOOK_CHECK_SECONDS = 3600
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    followed_jobs(openai_provider, 1, status="running")
    notifications.webhook_endpoint_create(url="http://127.0.0.1:9/ft")
    worker.run_once(log=lambda line: None)

    with CaptureQueriesContext(db_connection) as queries:
        report = worker.run_once(log=lambda line: None)

    assert not report.busy
    assert looks_for_deliveries(queries) == 1


def test_a_job_that_ends_during_a_pass_is_told_by_the_end_of_that_pass(
    settings, openai_provider, followed_jobs, notifications_never_checked
):
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    [job] = followed_jobs(openai_provider, 1, status="running")
    openai_provider.jobs[job.finetuning_job_id]["status"] = "succeeded"
    openai_provider.jobs[job.finetuning_job_id]["fine_tuned_model"] = "ft:gpt-4o-mini:acme::1"
    notifications.webhook_endpoint_create(url="http://127.0.0.1:9/ft")

    worker.run_once(log=lambda line: None)

    told = WebhookDelivery.objects.filter(finetuning=job, event_type="finetuning.succeeded")
    assert told.exists()


def looks_for_evaluations(queries) -> int:
    return sum(
        'FROM "finetunings_evaluation"' in query["sql"] or "finetunings_evaluation " in query["sql"]
        for query in queries.captured_queries
    )


def test_a_busy_worker_with_no_evaluation_looks_for_one_once_per_interval(
    settings, openai_provider, followed_jobs, notifications_never_checked
):
    settings.FINETUNING_WORKER_REFRESH_BATCH = 1
    settings.FINETUNING_WORKER_EVALUATION_CHECK_SECONDS = 3600
    followed_jobs(openai_provider, 3, status="running")

    with CaptureQueriesContext(db_connection) as queries:
        reports = [worker.run_once(log=lambda line: None) for _ in range(3)]

    assert [report.busy for report in reports] == [True, True, True]
    assert looks_for_evaluations(queries) == 1  # the first pass; none since
