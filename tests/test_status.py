"""The status module: the machine's table and the named querysets the worker claims by."""

from datetime import timedelta

import pytest
from django.utils import timezone

from finetunings import status
from finetunings.models import Finetuning
from finetunings.status import FinetuningStatus


def test_terminal_statuses_have_no_exits():
    for terminal in status.TERMINAL_STATUSES:
        assert status.ALLOWED_TRANSITIONS[terminal] == frozenset()


def test_every_active_status_reaches_every_terminal_one():
    for active in status.ACTIVE_STATUSES:
        for terminal in status.TERMINAL_STATUSES:
            assert status.may_move(active, terminal), (active, terminal)


def test_the_table_names_every_status_and_no_status_moves_to_itself():
    assert set(status.ALLOWED_TRANSITIONS) == set(FinetuningStatus.values)
    for source, targets in status.ALLOWED_TRANSITIONS.items():
        assert source not in targets
        assert targets <= set(FinetuningStatus.values)


def test_the_table_is_written_out_not_derived():
    # A reviewer reads each move here; a derivation from the status set would hide them.
    assert status.ALLOWED_TRANSITIONS[FinetuningStatus.QUEUED] == {
        "validating_files",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    }
    assert status.ALLOWED_TRANSITIONS[FinetuningStatus.RUNNING] == {
        "queued",
        "validating_files",
        "succeeded",
        "failed",
        "cancelled",
    }


def test_active_and_terminal_statuses_split_the_status_set():
    assert status.ACTIVE_STATUSES.isdisjoint(status.TERMINAL_STATUSES)
    assert set(FinetuningStatus.values) == status.ACTIVE_STATUSES | status.TERMINAL_STATUSES
    assert set(status.SUBMITTABLE_STATUSES) <= status.ACTIVE_STATUSES


def test_every_provider_status_maps_to_one_of_ours_and_an_unknown_one_to_none():
    assert set(status.FROM_PROVIDER_STATUS.values()) == set(FinetuningStatus.values)
    assert status.FROM_PROVIDER_STATUS.get("paused") is None
    assert all(
        status.FROM_PROVIDER_STATUS[s] in status.ACTIVE_STATUSES
        for s in status.PROVIDER_ACTIVE_STATUSES
    )


@pytest.fixture
def make_job(connection, golden_records):
    def make(alias, **fields):
        return Finetuning.objects.create(
            db_connection=connection,
            alias=alias,
            model_name="gpt-4o-mini-2024-07-18",
            golden_records=[record.pk for record in golden_records],
            **fields,
        )

    return make


def aliases(queryset):
    return set(queryset.values_list("alias", flat=True))


@pytest.mark.django_db
def test_active_and_finished_select_by_status(make_job):
    for value in FinetuningStatus.values:
        make_job(value, status=value)

    assert aliases(Finetuning.objects.active()) == set(status.ACTIVE_STATUSES)
    assert aliases(Finetuning.objects.finished()) == set(status.TERMINAL_STATUSES)


@pytest.mark.django_db
def test_awaiting_submission_is_waiting_jobs_without_a_provider_job(make_job):
    make_job("queued", status="queued")
    make_job("validating", status="validating_files")
    make_job("submitted", status="queued", finetuning_job_id="ftjob-1")
    make_job("running", status="running")
    make_job("cancelled", status="cancelled")

    assert aliases(Finetuning.objects.awaiting_submission()) == {"queued", "validating"}


@pytest.mark.django_db
def test_lease_free_and_held_by_tell_who_holds_a_job(make_job):
    now = timezone.now()
    make_job("never leased")
    make_job("expired", lease_owner="w1", lease_until=now - timedelta(seconds=1))
    make_job("held", lease_owner="w1", lease_until=now + timedelta(minutes=1))
    make_job("held but finished", status="failed", lease_owner="w1")

    assert aliases(Finetuning.objects.lease_free(now)) == {
        "never leased",
        "expired",
        "held but finished",
    }
    assert aliases(Finetuning.objects.held_by("w1")) == {"expired", "held"}
    assert aliases(Finetuning.objects.held_by("w2")) == set()


@pytest.mark.django_db
def test_due_for_poll_is_active_provider_jobs_not_asked_about_lately(make_job):
    now = timezone.now()
    make_job("never polled", status="running", finetuning_job_id="a")
    make_job(
        "polled long ago",
        status="running",
        finetuning_job_id="b",
        last_polled_at=now - timedelta(hours=1),
    )
    make_job("polled just now", status="running", finetuning_job_id="c", last_polled_at=now)
    make_job("no provider job", status="queued")
    make_job("finished", status="succeeded", finetuning_job_id="d")
    make_job("other provider", status="running", finetuning_job_id="e", model_provider="sandbox")

    due = Finetuning.objects.due_for_poll(
        provider="openai", polled_before=now - timedelta(minutes=1)
    )

    assert aliases(due) == {"never polled", "polled long ago"}


@pytest.mark.django_db
def test_the_clean_up_sets_find_what_may_still_run_at_the_provider(make_job):
    now = timezone.now()
    make_job(
        "orphaned create", status="cancelled", provider_create_started_at=now - timedelta(hours=1)
    )
    make_job("create just started", status="cancelled", provider_create_started_at=now)
    make_job(
        "still running there", status="cancelled", finetuning_job_id="a", provider_status="running"
    )
    make_job(
        "stopped there", status="cancelled", finetuning_job_id="b", provider_status="cancelled"
    )
    make_job("active", status="running", finetuning_job_id="c", provider_status="running")

    orphaned = Finetuning.objects.orphaned_creates(
        provider="openai", started_before=now - timedelta(minutes=1)
    )

    assert aliases(orphaned) == {"orphaned create"}
    assert aliases(Finetuning.objects.still_running_at_provider(provider="openai")) == {
        "still running there"
    }
