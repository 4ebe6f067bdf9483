"""Cancels racing each other: one provider call, one event, every caller answered 200."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finetunings import errors, services
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus
from tests.helpers.threads import send_at_once

THREADS = 20


def cancel_from_threads(job, raw_key, count=THREADS):
    def cancel(client):
        return client.post(f"/api/v1/finetunings/{job.pk}/cancel", format="json").status_code

    return send_at_once([cancel] * count, raw_key)


def running_job_held_by_another_canceller(connection, make_finetuning, provider):
    remote = provider.add_job(status="running")
    return make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote.id,
        cancel_lease_until=timezone.now() + timedelta(minutes=1),
    )


def cancel_events(job):
    return FinetuningEvent.objects.filter(finetuning=job, to_status=FinetuningStatus.CANCELLED)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_cancels_call_the_provider_once(
    connection, golden_records, make_finetuning, provider, api_key
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.delay["cancel_job"] = (
        0.3  # keep the winner inside the provider call while others arrive
    )

    results = cancel_from_threads(job, api_key[1])

    assert results == [HTTPStatus.OK] * THREADS
    assert provider.calls_to("cancel_job") == [remote.id]
    job.refresh_from_db()
    assert job.status == FinetuningStatus.CANCELLED
    assert cancel_events(job).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_cancels_of_a_queued_job(
    connection, golden_records, make_finetuning, provider, api_key
):
    job = make_finetuning(connection)

    results = cancel_from_threads(job, api_key[1])

    assert results == [HTTPStatus.OK] * THREADS
    assert provider.calls_to("cancel_job") == []
    assert cancel_events(job).count() == 1


def test_a_dead_cancellers_lease_expires_and_another_takes_over(
    connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote.id,
        cancel_lease_until=timezone.now() - timedelta(seconds=1),
    )

    cancelled = services.finetuning_cancel(finetuning=job, actor="test").finetuning

    assert cancelled.status == FinetuningStatus.CANCELLED
    assert cancelled.cancel_lease_until is None
    assert provider.calls_to("cancel_job") == [remote.id]


def test_a_cancel_still_in_flight_elsewhere_makes_others_retry_later(
    connection, golden_records, make_finetuning, provider, settings
):
    settings.FINETUNING_CANCEL_WAIT_SECONDS = 0.2
    job = running_job_held_by_another_canceller(connection, make_finetuning, provider)

    with pytest.raises(errors.CancelInProgress):
        services.finetuning_cancel(finetuning=job, actor="test")

    assert provider.calls_to("cancel_job") == []
    assert Finetuning.objects.get(pk=job.pk).status == FinetuningStatus.RUNNING


def test_waiting_for_another_cancel_rereads_the_job_without_its_long_lists(
    connection, golden_records, make_finetuning, provider, settings
):
    settings.FINETUNING_CANCEL_WAIT_SECONDS = 0.2
    job = running_job_held_by_another_canceller(connection, make_finetuning, provider)

    with CaptureQueriesContext(db_connection) as queries, pytest.raises(errors.CancelInProgress):
        services.finetuning_cancel(finetuning=job, actor="test")

    reads = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and "finetuning" in q["sql"]
    ]
    assert len(reads) > 2  # it did wait, re-reading the job
    assert not [sql for sql in reads if "golden_records" in sql]


def test_cancel_in_progress_is_503_with_retry_after(
    api, connection, golden_records, make_finetuning, provider, settings
):
    settings.FINETUNING_CANCEL_WAIT_SECONDS = 0.1
    job = running_job_held_by_another_canceller(connection, make_finetuning, provider)

    response = api.post(f"/api/v1/finetunings/{job.pk}/cancel", format="json")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == errors.ErrorCode.CANCEL_IN_PROGRESS
    assert response.headers["Retry-After"]


def test_failed_provider_call_releases_the_lease(
    connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.unreachable("cancel_job")

    with pytest.raises(Exception, match="could not be reached"):
        services.finetuning_cancel(finetuning=job, actor="test")

    assert Finetuning.objects.get(pk=job.pk).cancel_lease_until is None


def test_a_cancel_says_it_cancelled_the_job_and_a_second_one_that_it_did_not(finetuning):
    first = services.finetuning_cancel(finetuning=finetuning, actor="alice")
    second = services.finetuning_cancel(finetuning=finetuning, actor="bob")

    assert first.cancelled_now is True
    assert first.finetuning.status == FinetuningStatus.CANCELLED
    assert second.cancelled_now is False
    assert second.finetuning.cancelled_by == "alice"
    assert Finetuning.objects.get(pk=finetuning.pk).cancelled_by == "alice"
