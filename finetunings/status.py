"""A job's status: the set, the machine that moves between them, and the named querysets.

Every other module asks here which statuses are active, which are final, what may follow
what, and which jobs a worker may claim; none spells out a ``status__in`` of its own.
The table is written out in full, so a reader (and a reviewer of a change to it) sees
every allowed move without working it out.
"""

from django.db import models
from django.db.models import Q


class FinetuningStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    VALIDATING_FILES = "validating_files", "Validating files"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


QUEUED = FinetuningStatus.QUEUED
VALIDATING_FILES = FinetuningStatus.VALIDATING_FILES
RUNNING = FinetuningStatus.RUNNING
SUCCEEDED = FinetuningStatus.SUCCEEDED
FAILED = FinetuningStatus.FAILED
CANCELLED = FinetuningStatus.CANCELLED

ACTIVE_STATUSES = frozenset({QUEUED, VALIDATING_FILES, RUNNING})
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})
# What one of our jobs must look like for the worker to submit it.
SUBMITTABLE_STATUSES = (QUEUED, VALIDATING_FILES)

# The status machine: from -> the statuses it may move to. An active job may move to any
# other status (the provider reports queued/validating_files/running in any order, and a
# job may end from any of them); nothing leaves a terminal status.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({VALIDATING_FILES, RUNNING, SUCCEEDED, FAILED, CANCELLED}),
    VALIDATING_FILES: frozenset({QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED}),
    RUNNING: frozenset({QUEUED, VALIDATING_FILES, SUCCEEDED, FAILED, CANCELLED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}

# The provider's status strings (OpenAI's) and ours: a string missing here maps to None,
# which callers treat as "still active" (an unknown status is never taken as an end).
FROM_PROVIDER_STATUS: dict[str, str] = {
    "validating_files": VALIDATING_FILES,
    "queued": QUEUED,
    "running": RUNNING,
    "succeeded": SUCCEEDED,
    "failed": FAILED,
    "cancelled": CANCELLED,
}
# Provider statuses of a job that still runs (and costs money) at the provider.
PROVIDER_ACTIVE_STATUSES = ("validating_files", "queued", "running")


def may_move(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, ())


def lease_is_free(field: str, now) -> Q:
    """The lease in ``field`` (``lease_until``, ``cancel_lease_until``) is free at ``now``."""
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now})


class FinetuningQuerySet(models.QuerySet):
    """The sets of jobs the code asks for by name (the worker's claims, the clean-ups)."""

    def without_long_lists(self):
        """Rows without their long JSON lists (loaded only if read): see ``LONG_FIELDS``."""
        return self.defer(*self.model.LONG_FIELDS)

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=TERMINAL_STATUSES)

    def awaiting_submission(self):
        """Jobs the worker should submit: waiting, with no provider job yet."""
        return self.filter(status__in=SUBMITTABLE_STATUSES, finetuning_job_id__isnull=True)

    def lease_free(self, now):
        """No worker holds them (never leased, or the lease ran out)."""
        return self.filter(lease_is_free("lease_until", now))

    def cancel_lease_free(self, now):
        """No process is cancelling them right now (see ``services.cancel``)."""
        return self.filter(lease_is_free("cancel_lease_until", now))

    def held_by(self, worker_id: str):
        """Active jobs this worker holds the lease of."""
        return self.active().filter(lease_owner=worker_id)

    def due_for_poll(self, *, provider: str, polled_before):
        """Active provider jobs not asked about since ``polled_before`` (or marked due)."""
        return self.active().filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=polled_before),
            finetuning_job_id__isnull=False,
            model_provider=provider,
        )

    def orphaned_creates(self, *, provider: str, started_before):
        """Cancelled while a (since dead) worker was creating their provider job."""
        return self.filter(
            status=CANCELLED,
            model_provider=provider,
            finetuning_job_id__isnull=True,
            provider_create_started_at__lt=started_before,
        )

    def still_running_at_provider(self, *, provider: str):
        """Finished here, yet recorded as running at the provider (a failed cancel there)."""
        return self.finished().filter(
            model_provider=provider,
            finetuning_job_id__isnull=False,
            provider_status__in=PROVIDER_ACTIVE_STATUSES,
        )
