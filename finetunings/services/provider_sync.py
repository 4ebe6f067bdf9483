"""The worker's writes from what the provider reports: status, refresh claims, events.

Every write here is conditional on the job still being what the caller read (active, held
by this worker): one that lost its condition changes nothing.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from finetunings import status
from finetunings.models import Finetuning, FinetuningMetric, FinetuningStatus, ProviderPause
from finetunings.services import events
from finetunings.services.leases import claim
from finetunings.services.metrics import finetuning_metric_rows_from_events
from finetunings.services.transitions import finetuning_transition, record_requested_cancel

PROVIDER_PROBLEM_PREFIX = "The provider cannot show this job:"
PROVIDER_PROBLEM_MESSAGE = PROVIDER_PROBLEM_PREFIX + " {message} The worker keeps asking."
PROVIDER_JOB_GONE_STATUS = "not_found"


def finetuning_apply_provider_job(*, finetuning: Finetuning, remote, actor: str) -> bool:
    """Bring a job in line with what the provider reports about it; return whether it moved.

    An unknown provider status changes nothing but the stored raw status: it is not terminal.
    """
    mapped = remote.mapped_status
    fields = {"provider_status": remote.status}
    if (finetuning.status_message or "").startswith(PROVIDER_PROBLEM_PREFIX):
        fields["status_message"] = None  # the provider answers about it again
    training = _training_fields(finetuning, remote)
    fields.update(training)
    fields.update(_outcome_fields(remote))
    if mapped is None or mapped == finetuning.status:
        # Most polls find nothing new: those write nothing at all.
        if remote.status != finetuning.provider_status or "status_message" in fields or training:
            Finetuning.objects.active().filter(pk=finetuning.pk).update(**fields)
        return False
    only_if = None
    if mapped == FinetuningStatus.CANCELLED:
        request = (
            Finetuning.objects.filter(pk=finetuning.pk)
            .values_list("cancel_request", flat=True)
            .first()
        )
        if request:
            # A user's cancel that the provider accepted: recorded as theirs, whether or not
            # the request that asked could write it (its database connection may have died).
            recorded = record_requested_cancel(
                finetuning.pk, request=request, provider_status=remote.status
            )
            return recorded is not None
        # The provider's "cancelled" without a user's cancel in flight; should a cancel be in
        # flight after all, the process holding the lease records it.
        only_if = status.lease_is_free("cancel_lease_until", timezone.now())
    return finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=mapped,
        actor=actor,
        message=f"The provider reports {remote.status}.",
        fields=fields,
        only_if=only_if,
        event_data={"provider_status": remote.status},
    )


def _outcome_fields(remote) -> dict:
    """What a finished provider job leaves on ours: its model, or why it failed."""
    if remote.mapped_status == FinetuningStatus.SUCCEEDED:
        return {"model_id": remote.fine_tuned_model, "error": None}
    if remote.mapped_status == FinetuningStatus.FAILED:
        return {
            "error": remote.error_message or "The provider reported that the job failed.",
            "error_code": getattr(remote, "error_code", None),
            "error_param": getattr(remote, "error_param", None),
        }
    return {}


def _training_fields(finetuning: Finetuning, remote) -> dict:
    """What the provider now reports about the training that differs from what is stored.

    A value the provider leaves out (None) keeps the one stored: ``estimated_finish`` goes
    away when a job ends, and the last estimate is still worth showing.
    """
    reported = {
        "trained_tokens": getattr(remote, "trained_tokens", None),
        "estimated_finish": getattr(remote, "estimated_finish", None),
        "provider_hyperparameters": getattr(remote, "hyperparameters", None),
    }
    return {
        name: value
        for name, value in reported.items()
        if value is not None and value != getattr(finetuning, name)
    }


_REFRESH_COLUMNS = (
    "id",
    "status",
    "provider_status",
    "status_message",
    "finetuning_job_id",
    "model_provider",
    "created_at",
    "last_polled_at",
    "cancel_lease_until",
    "provider_events_cursor",
    "trained_tokens",
    "estimated_finish",
    "provider_hyperparameters",
)


def finetuning_claim_for_refresh(*, worker_id: str, provider: str, limit: int) -> list[Finetuning]:
    """Lease up to ``limit`` active jobs due for a poll, oldest poll first (see ``leases.claim``).

    Due: never polled, polled more than FINETUNING_WORKER_POLL_SECONDS ago, or marked due by
    a webhook (``last_polled_at`` NULL). Among jobs polled at the same moment the newest
    comes first, the order of the provider's own job list, so one list page covers a
    batch. Each job comes back with ``list_anchor``: the provider job id of our next newer
    job, where the provider's list (newest first) starts just above this one.
    """
    now = timezone.now()
    table = Finetuning._meta.db_table
    poll_before = now - timedelta(seconds=settings.FINETUNING_WORKER_POLL_SECONDS)
    due = Finetuning.objects.due_for_poll(provider=provider, polled_before=poll_before)
    jobs = claim(
        worker_id=worker_id,
        candidates=due.order_by(F("last_polled_at").asc(nulls_first=True), F("created_at").desc()),
        limit=limit,
        returning=f"""{", ".join(_REFRESH_COLUMNS)}, (
            SELECT newer.finetuning_job_id FROM {table} newer
            WHERE newer.created_at > {table}.created_at
              AND newer.finetuning_job_id IS NOT NULL AND newer.model_provider = %s
            ORDER BY newer.created_at ASC LIMIT 1
        ) AS list_anchor""",
        returning_params=[provider],
    )
    jobs.sort(key=lambda job: (job.created_at, job.pk), reverse=True)
    return jobs


def finetuning_mark_due(*, finetuning: Finetuning, event_id: str, event_type: str) -> bool:
    """A verified webhook: remember it and make the job due now; False if already seen.

    The next worker pass refreshes the job (the request never waits on the provider).
    """
    try:
        with transaction.atomic():
            events.record_webhook_received(
                finetuning_id=finetuning.pk, event_id=event_id, event_type=event_type
            )
            Finetuning.objects.active().filter(pk=finetuning.pk).update(last_polled_at=None)
    except IntegrityError:
        return False
    return True


def provider_pause(*, provider: str, seconds: float, reason: str) -> None:
    """Make every worker leave ``provider`` alone for ``seconds`` (it answered 429)."""
    until = timezone.now() + timedelta(seconds=seconds)
    ProviderPause.objects.bulk_create(
        [ProviderPause(provider=provider, paused_until=until, reason=reason)],
        update_conflicts=True,
        unique_fields=["provider"],
        update_fields=["paused_until", "reason"],
    )


def finetuning_record_provider_job_gone(*, finetuning: Finetuning, message: str) -> None:
    """The provider no longer knows a finished job's provider job: nothing runs there."""
    with transaction.atomic():
        if (
            Finetuning.objects.finished()
            .filter(pk=finetuning.pk)
            .update(provider_status=PROVIDER_JOB_GONE_STATUS)
        ):
            events.record_worker_note(
                finetuning_id=finetuning.pk,
                message=f"The provider no longer has job {finetuning.finetuning_job_id}: {message}",
            )


def finetuning_record_provider_problem(
    *, finetuning: Finetuning, message: str, worker_id: str | None = None, polled: bool = True
) -> None:
    """The provider cannot tell us about this job: say so on the job, and poll it later.

    ``polled=False`` (a passing error) leaves the job due, so the next pass asks again.
    """
    now = timezone.now()
    fields = {
        "status_message": PROVIDER_PROBLEM_MESSAGE.format(message=message),
        "updated_at": now,
    }
    if polled:
        fields["last_polled_at"] = now
    if worker_id is not None:
        fields.update(lease_owner=None, lease_until=None)
    Finetuning.objects.active().filter(pk=finetuning.pk).update(**fields)


def finetuning_record_provider_events_of_batch(*, items: list) -> int:
    """Store the new provider events of a refresh batch and where each job's read stands.

    ``items`` are ``(finetuning, [(event, sequence), ...], cursor or None)``. One
    transaction for the batch (an INSERT, and one UPDATE of the cursors), not one per job.
    """
    if not items:
        return 0
    moved = []
    for finetuning, _events, cursor in items:
        if cursor is not None:
            finetuning.provider_events_cursor = cursor
            moved.append(finetuning)
    # A step already stored keeps its row: the same event read again changes nothing.
    metrics = finetuning_metric_rows_from_events(items)
    with transaction.atomic():
        stored = events.record_provider_events(items)
        if metrics:
            FinetuningMetric.objects.bulk_create(metrics, ignore_conflicts=True, batch_size=1000)
        if moved:
            Finetuning.objects.bulk_update(moved, ["provider_events_cursor"], batch_size=500)
    return stored
