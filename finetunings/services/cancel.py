"""Cancel: stop a job at the provider if it runs there, and keep it as ``cancelled``.

``finetuning_cancel`` is the algorithm the API and the admin share; its steps are below it.
A cancel of a job with a provider job holds the cancel lease (one process at a time asks
the provider) and never keeps a transaction open during the provider call.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, DataError, InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from finetunings import errors, validation
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.ops import context as ops_context
from finetunings.providers import ProviderError, ProviderRejected, get_provider
from finetunings.services import events
from finetunings.services.base import raise_if
from finetunings.services.jobs import finetuning_update
from finetunings.services.provider_sync import finetuning_apply_provider_job
from finetunings.services.submission import attach_remote_job
from finetunings.services.transitions import (
    mark_cancelled_by_user,
    merged_metadata,
    record_requested_cancel,
)
from finetunings.status import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

# Metadata key under which each provider job carries our job's id: how a create whose
# answer was lost is found again (see ``worker.submit_job``).
PROVIDER_METADATA_KEY = "finetuning_id"
FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE = (
    "Found the provider job {job_id}, created for this job but never recorded (the create's "
    "answer was lost or its worker stopped), by this job's id in its metadata."
)


@dataclass(frozen=True)
class CancelOutcome:
    """The job after the cancel, and whether THIS call cancelled it.

    ``cancelled_now`` is False when the job was cancelled already (by another request, or
    a provider report), even if this call merged its metadata into it.
    """

    finetuning: Finetuning
    cancelled_now: bool


def finetuning_cancel(
    *,
    finetuning: Finetuning,
    actor: str,
    metadata: dict[str, str] | None = None,
    just_read: bool = False,
) -> CancelOutcome:
    """Cancel a job: stop it at the provider if it runs there, and keep it as ``cancelled``.

    - ``succeeded``/``failed``: ``FinetuningNotCancellable``; already ``cancelled``: returned.
    - No provider job yet: cancelled locally, on condition that none has appeared meanwhile
      (a worker that creates one afterwards loses its own update and cancels that job).
    - Provider job: one process at a time takes the cancel lease and asks the provider, with
      no transaction open during the call; concurrent requests wait for its outcome. If the
      provider says the job already finished, that is recorded and the cancel refused.
    - Provider unreachable or failing: ``ProviderError``, and the job is left as it was.

    ``just_read``: the caller read ``finetuning`` in this request, so the first look at
    the job is that read (every write below is conditional on what it saw).
    """
    raise_if({"metadata": validation.metadata_problems(metadata)})
    cancel = _Cancel(finetuning.pk, actor=actor, metadata=metadata)
    cancel.read = finetuning if just_read else None
    return cancel.run()


def finetuning_record_cancel_failed(*, finetuning: Finetuning, actor: str, message: str) -> None:
    """A cancel the provider did not take, in the job's timeline (the admin shows it)."""
    events.record_error(finetuning_id=finetuning.pk, actor=actor, message=message)


# What one turn of the cancel loop asks of the next: look at the job again at once, or
# after a pause (another process holds the cancel lease).
_LOOK_AGAIN = object()
_WAIT = object()


class _Cancel:
    """One call's cancel: its deadline, and what it has asked once already."""

    def __init__(self, finetuning_id: str, *, actor: str, metadata):
        self.finetuning_id, self.actor, self.metadata = finetuning_id, actor, metadata
        # Waiting never outlasts the request's own deadline: the caller must get its answer
        # (503 at worst) before the web server's timeout kills the request.
        wait = settings.FINETUNING_CANCEL_WAIT_SECONDS
        remaining = ops_context.remaining_seconds()
        self.deadline = time.monotonic() + (wait if remaining is None else min(wait, remaining))
        self.pause = 0.02
        self.asked_the_database = self.asked_the_provider = False
        self.read: Finetuning | None = None  # a read of the job made for this call

    def run(self) -> CancelOutcome:
        while True:
            outcome = self.turn()
            if outcome is _LOOK_AGAIN:
                continue
            if outcome is not _WAIT:
                return outcome
            if time.monotonic() > self.deadline:
                raise errors.CancelInProgress(retry_after=_cancel_retry_after(self.finetuning_id))
            time.sleep(self.pause)
            self.pause = min(self.pause * 2, 0.25)

    def turn(self):
        job = (
            self.read
            or Finetuning.objects.without_long_lists().filter(pk=self.finetuning_id).first()
        )
        self.read = None  # later turns look again: they follow a write or a wait
        if job is None:
            raise errors.DeletedMeanwhile("fine-tuning job")  # a finished job may be deleted
        if job.status == FinetuningStatus.CANCELLED:
            merged = _merge_cancel_metadata(job, actor=self.actor, metadata=self.metadata)
            return CancelOutcome(merged, cancelled_now=False)
        if job.status in TERMINAL_STATUSES:
            raise errors.FinetuningNotCancellable(job.status)
        # A cancel whose request died after the provider accepted it (``cancel_request``
        # outlived its lease) is the one this retry completes, on behalf of whoever asked.
        pending = job.cancel_request if job.finetuning_job_id else None
        merged = self.checked_metadata(job, pending)
        if not job.finetuning_job_id:
            return self.cancel_here(job, merged)
        return self.cancel_at_provider(job, pending, merged)

    def checked_metadata(self, job: Finetuning, pending: dict | None):
        """The metadata the cancel will write, once everything that could refuse it agreed.

        Asked before the provider is: once the provider has stopped the job, the write must
        not fail on the data.
        """
        merged = merged_metadata(
            merged_metadata(job.metadata, (pending or {}).get("metadata")), self.metadata
        )
        raise_if({"metadata": validation.metadata_problems(merged)})
        if self.metadata and not self.asked_the_database:
            # Once: a request waiting for another cancel must not write on every turn.
            raise_if({"metadata": _metadata_problems_at_the_database(job, merged)})
            self.asked_the_database = True
        return merged

    def cancel_here(self, job: Finetuning, merged):
        if job.provider_create_started_at is not None and _attach_unrecorded_provider_job(
            job, actor=self.actor
        ):
            return _LOOK_AGAIN  # it has a provider job now: cancel that at the provider
        cancelled = mark_cancelled_by_user(
            job.pk,
            actor=self.actor,
            metadata=merged,
            only_if=Q(finetuning_job_id=None),
            from_status=job.status,
        )
        if cancelled is not None:
            return CancelOutcome(cancelled, cancelled_now=True)
        return _LOOK_AGAIN  # a provider job appeared, or the status moved

    def cancel_at_provider(self, job: Finetuning, pending: dict | None, merged):
        request = pending or {
            "actor": self.actor,
            "at": timezone.now().isoformat(),
            "metadata": self.metadata,
        }
        if _take_cancel_lease(job, request=request):
            done = _cancel_at_provider(job, request=request, pending=pending, metadata=merged)
            if done is None:
                return _LOOK_AGAIN
            # Completing another request's cancel (``pending``) records theirs, not ours.
            return CancelOutcome(done, cancelled_now=pending is None)
        if pending and not self.asked_the_provider:
            # The lease may belong to a request that died after the provider accepted its
            # cancel (its database connection dropped): one look at the provider settles it
            # now instead of after the lease. A look, not a cancel: one process cancels.
            self.asked_the_provider = True
            if _settle_pending_cancel(job, request=pending):
                return _LOOK_AGAIN
        return _WAIT


def _attach_unrecorded_provider_job(job: Finetuning, *, actor: str) -> bool:
    """Find a provider job created for ``job`` but never recorded, and record it.

    A create may have reached the provider without its answer reaching us (it answered
    500 or timed out after creating, or its worker was killed before recording it). Such a
    provider job trains, and bills, until it is stopped, so a cancel looks it up now by the
    job's id in its metadata rather than leaving it to the worker's clean-up after the
    lease. Provider errors propagate (503/502) with the job unchanged. Returns whether the
    job now has a provider job (this call's or a worker's).
    """
    remote = get_provider(job.model_provider).find_job_by_metadata(
        key=PROVIDER_METADATA_KEY, value=job.pk
    )
    if remote is None:
        return False
    attach_remote_job(
        job,
        remote,
        actor=actor,
        message=FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE.format(job_id=remote.id),
        provider_create_started_at=None,
    )
    return True


def _settle_pending_cancel(job: Finetuning, *, request: dict) -> bool:
    """Record ``request`` if the provider already reports the job cancelled."""
    try:
        remote = get_provider(job.model_provider).retrieve_job(job.finetuning_job_id)
    except ProviderError:
        return False  # the lease holder, or its expiry, decides
    if remote.mapped_status != FinetuningStatus.CANCELLED:
        return False
    record_requested_cancel(job.pk, request=request, provider_status=remote.status)
    return True


METADATA_NOT_STORABLE_MESSAGE = (
    "The database cannot store this metadata (it holds characters that cannot be stored)."
)


def _metadata_problems_at_the_database(job: Finetuning, metadata) -> list[str]:
    """Let the database itself say whether it accepts the metadata, then undo the write.

    The rules in ``validation`` describe what we know the databases refuse; this asks the
    one in use, so that nothing it refuses is found out only after the provider has acted.
    """
    try:
        with transaction.atomic():
            Finetuning.objects.filter(pk=job.pk).update(metadata=metadata)
            transaction.set_rollback(True)
    except DataError:
        return [METADATA_NOT_STORABLE_MESSAGE]
    return []


def _cancel_retry_after(finetuning_id: str) -> int:
    """Seconds a client should wait before retrying a cancel that another process holds."""
    lease = (
        Finetuning.objects.filter(pk=finetuning_id)
        .values_list("cancel_lease_until", flat=True)
        .first()
    )
    left = (lease - timezone.now()).total_seconds() if lease else 1
    return max(1, min(math.ceil(left), _CANCEL_RETRY_AFTER_MAX_SECONDS))


# A holder that is alive finishes within seconds; one that died holds the lease until it
# expires, and polling a little more often than that costs the client nothing.
_CANCEL_RETRY_AFTER_MAX_SECONDS = 5


def _merge_cancel_metadata(job: Finetuning, *, actor: str, metadata) -> Finetuning:
    """A cancel of a cancelled job still merges its metadata, as any cancel does.

    A retried cancel carries what the first one merged, which changes nothing (no write, no
    event); new keys are kept, and recorded in the timeline, rather than silently dropped.
    """
    merged = {**(job.metadata or {}), **(metadata or {})}
    if not metadata or merged == job.metadata:
        return job
    return finetuning_update(finetuning=job, actor=actor, metadata=merged)


def _take_cancel_lease(job: Finetuning, *, request: dict) -> bool:
    now = timezone.now()
    return bool(
        Finetuning.objects.active()
        .cancel_lease_free(now)
        .filter(pk=job.pk)
        .update(
            cancel_lease_until=now + timedelta(seconds=settings.FINETUNING_CANCEL_LEASE_SECONDS),
            cancel_request=request,
        )
    )


_KEEP = object()


def _release_cancel_lease(job: Finetuning, *, cancel_request=_KEEP) -> None:
    """Let a retry cancel again; best effort, as the database may be what failed."""
    fields = {"cancel_lease_until": None}
    if cancel_request is not _KEEP:
        fields["cancel_request"] = cancel_request
    try:
        Finetuning.objects.filter(pk=job.pk).update(**fields)
    except DatabaseError:
        # The lease expires by itself; raising here would hide the error that matters.
        logger.warning("Could not release the cancel lease of %s", job.pk, exc_info=True)


# A dropped connection or a database fail-over usually heals within a second or two; the
# request that holds the provider's "yes" keeps trying that long before it gives up.
_CANCEL_WRITE_PAUSES = (0.1, 0.3, 0.9)


def _record_cancel(
    job: Finetuning, *, request: dict, metadata, provider_status: str
) -> Finetuning | None:
    """Write the cancel the provider has accepted, retrying passing database failures.

    Should the database stay down, ``cancel_request`` (written with the lease) still holds
    the user's cancel: the next retry or worker refresh records it (see
    ``finetuning_apply_provider_job``).
    """
    for pause in (*_CANCEL_WRITE_PAUSES, None):
        try:
            return mark_cancelled_by_user(
                job.pk,
                actor=request["actor"],
                metadata=metadata,
                only_if=Q(finetuning_job_id=job.finetuning_job_id),
                provider_status=provider_status,
                cancelled_at=datetime.fromisoformat(request["at"]),
                from_status=job.status,
            )
        except (OperationalError, InterfaceError):
            if pause is None:
                raise
            if not db_connection.in_atomic_block:
                db_connection.close()  # a broken connection is not reused; the next one is new
            time.sleep(pause)
    return None


def _cancel_at_provider(
    job: Finetuning, *, request: dict, pending: dict | None, metadata
) -> Finetuning | None:
    """Cancel at the provider while holding the lease; None means "look at the job again"."""
    provider = get_provider(job.model_provider)
    try:
        try:
            remote = provider.cancel_job(job.finetuning_job_id)
        except ProviderRejected:
            # The provider refuses to cancel a job that has already ended; ask what it is.
            remote = provider.retrieve_job(job.finetuning_job_id)
            if remote.mapped_status not in TERMINAL_STATUSES:
                raise
    except ProviderError as exc:
        # A time-out or a 5xx may come after the provider stopped the job: then the user's
        # request stays (lease released), so a refresh that finds the job cancelled records
        # it as theirs. Otherwise nothing has changed, and the job is left as it was.
        _release_cancel_lease(job, cancel_request=request if exc.may_have_acted else pending)
        raise
    except BaseException:
        # So that a retry, here or elsewhere, can try again; nothing else has changed.
        _release_cancel_lease(job, cancel_request=pending)
        raise

    cancelled = None
    try:
        if remote.mapped_status in (FinetuningStatus.SUCCEEDED, FinetuningStatus.FAILED):
            finetuning_apply_provider_job(finetuning=job, remote=remote, actor="provider")
            raise errors.FinetuningNotCancellable(remote.mapped_status)
        # "cancelled", or still winding down ("cancelling" or any other active status): the
        # provider has accepted the cancel, so the job is cancelled for our users.
        cancelled = _record_cancel(
            job, request=request, metadata=metadata, provider_status=remote.status
        )
        return cancelled
    finally:
        # Whatever happened to the write, a retry must not wait for this lease to expire
        # (the cancel's own write ends it: a finished job holds no lease).
        if cancelled is None:
            _release_cancel_lease(job)
