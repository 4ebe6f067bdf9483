"""The refresh: claimed in batches, one job's failure is its own, a 429 pauses every worker,
events arrive incrementally, and nothing is written for a job that did not change.

Driven through the real SDK against the fake OpenAI (tests/fakes/openai_server.py)."""

import datetime
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finetunings import worker
from finetunings.models import (
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningStatus,
    ProviderPause,
)
from tests.fakes.openai_server import EVENTS, LIST, RETRIEVE, UPLOAD
from tests.helpers.refresh import due_again, refresh


def provider_events(job):
    return list(
        FinetuningEvent.objects.filter(
            finetuning_id=job.pk, kind=FinetuningEventKind.PROVIDER_EVENT
        ).order_by("created_at", "provider_sequence", "id")
    )


# --- Claimed in batches ----------------------------------------------------------------


def test_a_pass_refreshes_one_batch_oldest_poll_first(settings, openai_provider, followed_jobs):
    settings.FINETUNING_WORKER_REFRESH_BATCH = 2
    jobs = followed_jobs(openai_provider, 4, status="queued", provider_status="running")
    long_ago = timezone.now() - timedelta(hours=1)
    for minutes, job in zip((1, 40, 30, 2), jobs, strict=True):
        Finetuning.objects.filter(pk=job.pk).update(
            last_polled_at=long_ago - timedelta(minutes=minutes)
        )

    report, _ = refresh()

    assert report.refreshed == 2
    moved = set(Finetuning.objects.filter(status="running").values_list("pk", flat=True))
    assert moved == {jobs[1].pk, jobs[2].pk}  # polled 40 and 30 minutes before the others
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()


def test_a_batch_is_covered_by_one_list_call_starting_at_its_newest_job(
    settings, openai_provider, followed_jobs
):
    settings.FINETUNING_WORKER_REFRESH_BATCH = 3
    jobs = followed_jobs(openai_provider, 7, status="queued", provider_status="running")
    Finetuning.objects.filter(pk__in=[job.pk for job in jobs[:4]]).update(
        last_polled_at=timezone.now()
    )

    refresh()

    # Due: the three newest; the list starts just above them, at our next newer job.
    assert openai_provider.listed == [[job.finetuning_job_id for job in reversed(jobs[4:])]]
    assert openai_provider.calls_to(RETRIEVE) == []


def test_submitting_and_following_interleave(
    settings, run_pass, openai_provider, followed_jobs, finetuning
):
    settings.FINETUNING_WORKER_REFRESH_BATCH = 5
    followed_jobs(openai_provider, 12)

    report, _ = run_pass()

    assert report.submitted == [finetuning.pk]  # not behind the 12 jobs to follow
    assert report.claimed == 5
    assert report.busy  # the command starts the next pass at once


# --- One failure stops one job; a 429 pauses every worker ------------------------------


def test_one_job_whose_retrieve_keeps_failing_does_not_stop_the_others(
    settings, openai_provider, followed_jobs
):
    settings.FINETUNING_WORKER_LIST_MAX_PAGES = 0  # one retrieve per job
    jobs = followed_jobs(openai_provider, 4, status="queued", provider_status="running")
    broken = jobs[1]
    openai_provider.keep_failing(RETRIEVE, broken.finetuning_job_id)

    report, lines = refresh()

    assert report.refreshed == 3
    assert report.refresh_failed == [broken.pk]
    for job in jobs:
        job.refresh_from_db()
    assert [job.status for job in jobs] == ["running", "queued", "running", "running"]
    assert "cannot show this job" in broken.status_message
    assert "500" in broken.status_message
    assert any(line.startswith(f"{broken.pk}: the provider cannot show") for line in lines)
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()

    refresh()  # the broken job is still due; the others wait for their interval

    assert openai_provider.calls_to(RETRIEVE).count(broken.finetuning_job_id) == 2
    assert len(openai_provider.calls_to(RETRIEVE)) == 5


def test_a_429_with_retry_after_pauses_every_worker_for_that_long(
    openai_provider, followed_jobs, connection, make_finetuning
):
    jobs = followed_jobs(openai_provider, 3, status="queued", provider_status="running")
    openai_provider.fail_next(LIST, 429, retry_after=120)
    lines = []

    report = worker.run_once(worker_id="first", log=lines.append)

    assert report.rate_limited
    pause = ProviderPause.objects.get(provider="openai")
    assert pause.paused_until > timezone.now() + timedelta(seconds=100)
    assert any("paused for 120 s" in line for line in lines)
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()
    calls_after_429 = len(openai_provider.calls)
    waiting = make_finetuning(connection)

    # Another worker (another process: the pause is in the database) leaves it alone.
    second = worker.run_once(worker_id="second", log=lambda line: None)

    assert len(openai_provider.calls) == calls_after_429
    assert second.claimed == 0
    assert second.submitted == []
    assert Finetuning.objects.filter(status="queued").count() == len(jobs) + 1

    # Its Retry-After has passed.
    ProviderPause.objects.update(paused_until=timezone.now() - timedelta(seconds=1))
    third = worker.run_once(worker_id="second", log=lambda line: None)

    assert third.submitted == [waiting.pk]
    assert third.refreshed == len(jobs)
    assert len(openai_provider.calls_to(UPLOAD)) == 1


# --- Writes only for change -------------------------------------------------------------


def test_a_pass_over_unchanged_jobs_issues_no_per_job_update(
    settings, openai_provider, followed_jobs
):
    jobs = followed_jobs(openai_provider, 40, status="running")
    jobs += followed_jobs(openai_provider, 10, status="validating_files")
    for job in jobs[:40]:
        openai_provider.add_event(job.finetuning_job_id, "Step 1/100: training loss=1.2")
    refresh()  # the first poll stores each running job's events
    due_again(*jobs)

    with CaptureQueriesContext(db_connection) as queries:
        report, _ = refresh()

    assert report.refreshed == 50
    statements = [query["sql"] for query in queries.captured_queries]
    # The claim (one UPDATE ... RETURNING) and the batch's poll time (one UPDATE).
    assert len(statements) == 2, statements
    assert all(sql.lstrip().upper().startswith("UPDATE") for sql in statements)
    assert len(openai_provider.calls_to(EVENTS)) == 40 * 2  # running jobs: events each poll


# --- Every provider event, incrementally -------------------------------------------------


def test_a_running_jobs_events_arrive_while_it_runs_each_stored_once(
    openai_provider, followed_jobs
):
    [job] = followed_jobs(openai_provider, 1, status="running")
    remote_id = job.finetuning_job_id
    base = int(timezone.now().timestamp()) - 100
    for step in range(1, 4):
        openai_provider.add_event(remote_id, f"Step {step}", created_at=base)

    refresh()
    assert [e.message for e in provider_events(job)] == ["Step 1", "Step 2", "Step 3"]

    refresh()  # not due yet: no call
    for step in range(4, 6):
        openai_provider.add_event(remote_id, f"Step {step}", created_at=base + 1)
    due_again(job)
    refresh()
    due_again(job)
    refresh()  # nothing new

    events = provider_events(job)
    assert [e.message for e in events] == [f"Step {step}" for step in range(1, 6)]
    assert [e.created_at.timestamp() for e in events] == [base] * 3 + [base + 1] * 2
    assert Finetuning.objects.get(pk=job.pk).status == FinetuningStatus.RUNNING
    assert len(openai_provider.calls_to(EVENTS)) == 3


def test_a_job_with_1000_provider_events_ends_with_all_of_them_in_its_timeline(
    settings, openai_provider, followed_jobs
):
    settings.FINETUNING_WORKER_EVENT_PAGES_PER_JOB = 3  # 300 events per poll at most
    [job] = followed_jobs(openai_provider, 1, status="running")
    remote_id = job.finetuning_job_id
    base = int(timezone.now().timestamp()) - 10_000
    messages = []

    def emit(count):
        for _ in range(count):
            number = len(messages) + 1
            messages.append(f"Step {number}")
            # Many events share one second, as a fast training run's do.
            openai_provider.add_event(remote_id, f"Step {number}", created_at=base + number // 7)

    emit(700)
    for _poll in range(3):  # the newest 300, then the 400 older ones in a gap left behind
        refresh()
        due_again(job)
        emit(100)  # the job keeps running meanwhile
    for _poll in range(3):
        refresh()
        due_again(job)

    events = provider_events(job)
    assert len(messages) == 1000
    assert [e.message for e in events] == messages
    assert len({e.provider_event_id for e in events}) == 1000
    assert [int(e.created_at.timestamp()) for e in events] == [
        base + number // 7 for number in range(1, 1001)
    ]
    assert events[0].created_at.tzinfo is not None
    assert events[0].data["provider_created_at"] == (
        datetime.datetime.fromtimestamp(base, tz=datetime.UTC).isoformat()
    )
    assert Finetuning.objects.get(pk=job.pk).provider_events_cursor.get("gap_after") is None


@pytest.mark.parametrize("status", [HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND])
def test_a_refused_list_call_does_not_stop_the_worker(
    run_pass, make_due, openai_provider, running, status
):
    openai_provider.fail_next(LIST, status)
    make_due(running)

    _, lines = run_pass()  # the command's loop has no guard: an exception here ends it

    assert any(line.startswith("refresh stopped:") for line in lines)
    make_due(running)
    run_pass()
    assert Finetuning.objects.get(pk=running.pk).status == FinetuningStatus.RUNNING


def test_a_job_the_provider_cannot_show_says_why_it_does_not_move(
    run_pass, make_due, openai_provider, running
):
    # E.g. OPENAI_API_KEY now belongs to another project: the job is 404 at the provider.
    del openai_provider.jobs[running.finetuning_job_id]
    make_due(running)

    _, lines = run_pass()

    assert any("cannot show job" in line for line in lines)  # only the worker's log knows
    running.refresh_from_db()
    assert running.status == FinetuningStatus.VALIDATING_FILES
    assert running.status_message  # what the user reads: nothing, for ever
