"""Submission: the worker's writes while it takes a job to a provider job.

The worker claims a job with a lease (``leases.claim``), does its network calls with no
transaction open, and writes each step back here on condition that it still holds the
job; a lost condition means the job was cancelled or taken over.
"""

from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetunings.models import Finetuning, FinetuningStatus
from finetunings.services import events
from finetunings.services.events import WORKER_ACTOR
from finetunings.services.leases import claim
from finetunings.services.provider_sync import finetuning_apply_provider_job
from finetunings.services.transitions import finetuning_transition

SUBMITTING_MESSAGE = "A worker is submitting the job to the provider."
BUILDING_FILE_MESSAGE = "Building and checking the training file."
UPLOADING_FILE_MESSAGE = "Uploading the training file to the provider."
TRAINING_FILE_BUILT_MESSAGE = (
    "Training file built: {examples} examples, {tokens} tokens ({token_counting}), "
    "about {estimated_billed_tokens} billed tokens."
)
VALIDATION_FILE_BUILT_MESSAGE = (
    "Validation file built: {examples} examples, {tokens} tokens ({token_counting})."
)
RETRY_MESSAGE = "{reason} The worker will try again at {when:%Y-%m-%d %H:%M:%S} UTC."
SUBMITTED_MESSAGE = "Submitted to the provider as {job_id} (training file {file_id})."
ORPHAN_CANCELLED_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, was cancelled "
    "at the provider."
)
# The job stays cancelled (a terminal status never moves, and its user was told so), but
# it says what happened and keeps the model the provider made (and billed).
LATE_PROVIDER_JOB_FINISHED_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, had already "
    "{status} before it could be stopped{detail}."
)
LATE_PROVIDER_JOB_STOPPING_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, was asked to "
    "stop; the provider reports {status}."
)


def finetuning_claim_for_submission(
    *, worker_id: str, limit: int, model_provider: str | None = None
) -> list[Finetuning]:
    """Lease up to ``limit`` jobs that wait for submission, oldest first (see ``leases.claim``).

    Expired leases count as free, so a job whose worker died is taken over here. With
    ``model_provider``, only that provider's jobs: each provider submits its own.
    """
    now = timezone.now()
    candidates = Finetuning.objects.awaiting_submission().filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    if model_provider is not None:
        candidates = candidates.filter(model_provider=model_provider)
    jobs = claim(
        worker_id=worker_id,
        candidates=candidates.order_by("created_at", "id"),
        limit=limit,
        extra_set=", status_message = %s, attempts = attempts + 1",
        extra_set_params=[SUBMITTING_MESSAGE],
    )
    jobs.sort(key=lambda job: (job.created_at, job.pk))
    return jobs


def finetuning_start_validating(*, finetuning: Finetuning, worker_id: str) -> bool:
    """queued -> validating_files for a job this worker holds (already there: nothing to do)."""
    if finetuning.status == FinetuningStatus.VALIDATING_FILES:
        return True
    return _transition_held(
        finetuning,
        worker_id,
        FinetuningStatus.VALIDATING_FILES,
        BUILDING_FILE_MESSAGE,
        {"status_message": BUILDING_FILE_MESSAGE},
    )


def _transition_held(finetuning, worker_id, to_status, message, fields) -> bool:
    # The machine moves only an active job, so this is "held by this worker" and not yet
    # submitted: a worker whose lease ran out must not move a job another worker now has.
    return finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=to_status,
        actor=WORKER_ACTOR,
        message=message,
        fields=fields,
        only_if=Q(lease_owner=worker_id, finetuning_job_id__isnull=True),
    )


# What keeping each kind of file writes besides the file: its timeline message, and for
# the training file the job's status message (its upload comes next).
_KEEPING = {
    "training": (TRAINING_FILE_BUILT_MESSAGE, {"status_message": UPLOADING_FILE_MESSAGE}),
    "validation": (VALIDATION_FILE_BUILT_MESSAGE, {}),
}


def finetuning_store_file(
    *, finetuning: Finetuning, worker_id: str, kind: str, file, summary: dict
) -> bool:
    """Keep a built file (``kind``: training, validation) and its summary on the job, once,
    while this worker holds it; with its event, in one transaction. Whether it was kept."""
    message, fields = _KEEPING[kind]
    name = default_storage.save(f"{kind}-files/{finetuning.pk}.jsonl", File(file))
    try:
        with transaction.atomic():
            kept = (
                Finetuning.objects.held_by(worker_id)
                .filter(pk=finetuning.pk, **{f"{kind}_file__in": ("", None)})
                .update(
                    **{
                        f"{kind}_file": name,
                        f"{kind}_file_sha256": summary["sha256"],
                        f"{kind}_file_size": summary["bytes"],
                        f"{kind}_summary": summary,
                    },
                    **fields,
                    updated_at=timezone.now(),
                )
            )
            if kept:
                events.record_worker_note(
                    finetuning_id=finetuning.pk, message=message.format(**summary), data=summary
                )
    except BaseException:
        default_storage.delete(name)  # nothing points at it: the write was rolled back
        raise
    if not kept:
        default_storage.delete(name)  # the job moved on (cancelled, taken over): not ours
    return bool(kept)


def finetuning_record_uploaded_file(
    *, finetuning: Finetuning, worker_id: str, file_id: str, kind: str = "training"
) -> bool:
    """Record the provider's id of the job's uploaded ``kind`` file, while this worker holds it."""
    return bool(
        Finetuning.objects.held_by(worker_id)
        .filter(pk=finetuning.pk)
        .update(**{Finetuning.KEPT_FILES[kind]: file_id}, updated_at=timezone.now())
    )


def finetuning_mark_create_started(*, finetuning: Finetuning, worker_id: str) -> bool:
    """Note that a provider job may exist from now on; False if the lease was lost."""
    now = timezone.now()
    return bool(
        Finetuning.objects.held_by(worker_id)
        .filter(pk=finetuning.pk, finetuning_job_id__isnull=True)
        .update(
            provider_create_started_at=now,
            lease_until=now + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS),
        )
    )


def finetuning_attach_provider_job(*, finetuning: Finetuning, remote) -> bool:
    """Record the provider job that now runs this job, if the job is still active.

    Loses (returns False) when the job was cancelled meanwhile or another worker attached
    a provider job first: the caller must then make sure its own provider job stops.
    """
    message = SUBMITTED_MESSAGE.format(job_id=remote.id, file_id=remote.training_file or "?")
    attached = attach_remote_job(
        finetuning,
        remote,
        actor=WORKER_ACTOR,
        message=message,
        attempts=0,
        next_attempt_at=None,
        last_polled_at=timezone.now(),
    )
    if attached:
        finetuning.refresh_from_db()
        finetuning_apply_provider_job(finetuning=finetuning, remote=remote, actor="provider")
    return attached


def attach_remote_job(finetuning: Finetuning, remote, *, actor: str, message: str, **fields):
    """Record ``remote`` as the job's provider job if the job is active and has none yet.

    The lease goes with it: a worker still holding the job loses its own attach, harmlessly.
    """
    with transaction.atomic():
        attached = (
            Finetuning.objects.active()
            .filter(pk=finetuning.pk, finetuning_job_id__isnull=True)
            .update(
                finetuning_job_id=remote.id,
                finetuning_file_id=remote.training_file or finetuning.finetuning_file_id,
                provider_status=remote.status,
                status_message=None,
                lease_owner=None,
                lease_until=None,
                updated_at=timezone.now(),
                **fields,
            )
        )
        if attached:
            events.record_worker_note(
                finetuning_id=finetuning.pk,
                actor=actor,
                message=message,
                data={"provider_job_id": remote.id, "provider_status": remote.status},
            )
    return bool(attached)


def finetuning_record_late_provider_job(*, finetuning: Finetuning, remote, stopped: bool) -> None:
    """Show on a cancelled job the provider job created for it after the cancel.

    Recorded before the provider is asked to stop it (``stopped=False``), so that if that
    call fails, the next pass sees a cancelled job with a live provider job and tries again.
    """
    fields = {"provider_status": remote.status, "provider_create_started_at": None}
    if stopped and remote.mapped_status == FinetuningStatus.SUCCEEDED:
        fields["model_id"] = remote.fine_tuned_model
    with transaction.atomic():
        Finetuning.objects.filter(pk=finetuning.pk, finetuning_job_id__isnull=True).update(
            finetuning_job_id=remote.id,
            finetuning_file_id=remote.training_file or finetuning.finetuning_file_id,
        )
        Finetuning.objects.filter(pk=finetuning.pk, finetuning_job_id=remote.id).update(**fields)
        if stopped:
            events.record_worker_note(
                finetuning_id=finetuning.pk,
                message=_late_provider_job_message(remote),
                data={"provider_job_id": remote.id, "provider_status": remote.status},
            )


def _late_provider_job_message(remote) -> str:
    """What became of a late provider job we asked to stop, as the provider reports it."""
    if remote.mapped_status == FinetuningStatus.CANCELLED:
        return ORPHAN_CANCELLED_MESSAGE.format(job_id=remote.id)
    if remote.mapped_status == FinetuningStatus.SUCCEEDED:
        detail = f" (model {remote.fine_tuned_model})" if remote.fine_tuned_model else ""
    elif remote.mapped_status == FinetuningStatus.FAILED:
        detail = f" ({remote.error_message})" if remote.error_message else ""
    else:
        return LATE_PROVIDER_JOB_STOPPING_MESSAGE.format(job_id=remote.id, status=remote.status)
    return LATE_PROVIDER_JOB_FINISHED_MESSAGE.format(
        job_id=remote.id, status=remote.status, detail=detail
    )


def finetuning_clear_create_started(*, finetuning: Finetuning) -> None:
    Finetuning.objects.filter(pk=finetuning.pk).update(provider_create_started_at=None)


def finetuning_back_off(*, finetuning: Finetuning, worker_id: str, reason: str) -> str | None:
    """Give the job back after a passing failure, to be tried again later; return the message.

    The wait doubles with each attempt (up to a maximum); the reason and the time of the
    next attempt are on the job for users to read.
    """
    now = timezone.now()
    attempts = Finetuning.objects.filter(pk=finetuning.pk).values_list("attempts", flat=True)
    exponent = max((attempts.first() or 1) - 1, 0)
    delay = min(
        settings.FINETUNING_WORKER_BACKOFF_SECONDS * (2 ** min(exponent, 20)),
        settings.FINETUNING_WORKER_BACKOFF_MAX_SECONDS,
    )
    next_attempt_at = now + timedelta(seconds=delay)
    message = RETRY_MESSAGE.format(reason=reason, when=next_attempt_at)
    with transaction.atomic():
        updated = (
            Finetuning.objects.held_by(worker_id)
            .filter(pk=finetuning.pk)
            .update(
                status_message=message,
                next_attempt_at=next_attempt_at,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        if updated:
            events.record_error(finetuning_id=finetuning.pk, actor=WORKER_ACTOR, message=message)
    return message if updated else None


def finetuning_fail(*, finetuning: Finetuning, worker_id: str, reason: str) -> bool:
    """A permanent failure (the provider refused, the data cannot be trained on).

    Only while this worker still holds the job and no provider job is attached: a worker
    whose lease ran out must not fail a job that another worker has since submitted.
    """
    failed = FinetuningStatus.FAILED
    return _transition_held(finetuning, worker_id, failed, reason, {"error": reason})


def finetuning_set_waiting_reason(*, reason: str, model_provider: str | None = None) -> int:
    """Tell every job waiting for submission (to that provider) why it waits (no key, ...)."""
    waiting = Finetuning.objects.awaiting_submission()
    if model_provider is not None:
        waiting = waiting.filter(model_provider=model_provider)
    return waiting.exclude(status_message=reason).update(
        status_message=reason, updated_at=timezone.now()
    )
