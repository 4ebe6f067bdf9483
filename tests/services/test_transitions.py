"""The status machine: a move the table allows happens once with its event; any other
move changes nothing and writes nothing."""

from django.db.models import Q

from finetunings import errors
from finetunings.models import Finetuning, FinetuningEvent, FinetuningEventKind, FinetuningStatus
from finetunings.services.transitions import finetuning_transition, mark_cancelled_by_user


def status_events(job):
    return list(
        FinetuningEvent.objects.filter(
            finetuning_id=job.pk, kind=FinetuningEventKind.STATUS_CHANGED
        ).values_list("from_status", "to_status", "actor", "message")
    )


def test_an_allowed_move_changes_the_status_and_tells_the_timeline_once(finetuning):
    moved = finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=FinetuningStatus.RUNNING,
        actor="worker",
        message="Training started.",
    )

    assert moved is True
    assert Finetuning.objects.get(pk=finetuning.pk).status == FinetuningStatus.RUNNING
    assert status_events(finetuning) == [("queued", "running", "worker", "Training started.")]


def test_nothing_leaves_a_finished_job(connection, golden_records, make_finetuning):
    job = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)

    moved = finetuning_transition(
        finetuning_id=job.pk, to_status=FinetuningStatus.RUNNING, actor="provider"
    )

    assert moved is False
    assert Finetuning.objects.get(pk=job.pk).status == FinetuningStatus.SUCCEEDED
    assert status_events(job) == []


def test_a_move_whose_extra_condition_fails_changes_nothing(finetuning):
    moved = finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=FinetuningStatus.FAILED,
        actor="worker",
        only_if=Q(lease_owner="a-worker-that-does-not-hold-it"),
    )

    assert moved is False
    assert Finetuning.objects.get(pk=finetuning.pk).status == FinetuningStatus.QUEUED
    assert status_events(finetuning) == []


def test_a_finished_job_no_longer_promises_a_retry_nor_holds_a_lease(finetuning):
    Finetuning.objects.filter(pk=finetuning.pk).update(
        status_message="The worker will try again at noon.", lease_owner="worker-1"
    )

    finetuning_transition(
        finetuning_id=finetuning.pk, to_status=FinetuningStatus.FAILED, actor="worker"
    )

    job = Finetuning.objects.get(pk=finetuning.pk)
    assert (job.status_message, job.lease_owner, job.lease_until) == (None, None, None)
    assert job.finished_at is not None


def test_a_users_cancel_records_who_asked_and_keeps_their_metadata(finetuning):
    moved = mark_cancelled_by_user(finetuning.pk, actor="alice", metadata={"reason": "typo"})

    job = Finetuning.objects.get(pk=finetuning.pk)
    # It answers with the job as written, so the cancel needs no second read.
    assert moved is not None
    assert (moved.pk, moved.status, moved.cancelled_by) == (job.pk, job.status, job.cancelled_by)
    assert (job.status, job.cancelled_by) == (FinetuningStatus.CANCELLED, "alice")
    assert job.metadata == {"reason": "typo"}
    assert job.error == errors.CANCELLED_BY_USER_MESSAGE
    assert job.cancelled_at is not None
