"""Cancel: stop a job at the provider if it runs there, and keep it as ``cancelled``.

``finetuning_cancel`` is the algorithm the API and the admin share; its steps are below it,
and the provider's side of them in ``cancel_provider``. Every cancel first takes the job's
cancel lease (one process at a time cancels a job), and its first statement is that
claim, which also reads the job. A cancel never keeps a transaction open during a provider
call.
"""

import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import Case, F, JSONField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from finetunings import errors, validation
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.ops import context as ops_context
from finetunings.services import events
from finetunings.services.base import raise_if, update_returning
from finetunings.services.cancel_provider import (
    attach_unrecorded_provider_job,
    cancel_at_provider,
    release_cancel_lease,
    settle_pending_cancel,
)
from finetunings.services.jobs import finetuning_update
from finetunings.services.transitions import mark_cancelled_by_user, merged_metadata
from finetunings.status import TERMINAL_STATUSES


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
    finetuning: Finetuning | None = None,
    finetuning_id: str | None = None,
    actor: str,
    metadata: dict[str, str] | None = None,
    jobs: QuerySet[Finetuning] | None = None,
) -> CancelOutcome:
    """Cancel a job: stop it at the provider if it runs there, and keep it as ``cancelled``.

    - ``succeeded``/``failed``: ``FinetuningNotCancellable``; already ``cancelled``: returned.
    - An active job: one process at a time takes its cancel lease and cancels it;
      concurrent requests wait for its outcome.
    - No provider job yet: cancelled locally, on condition that none has appeared meanwhile
      (a worker that creates one afterwards loses its own update and cancels that job).
    - Provider job: the provider is asked with no transaction open during the call. If it
      says the job already finished, that is recorded and the cancel refused.
    - Provider unreachable or failing: ``ProviderError``, and the job is left as it was.

    The job is ``finetuning``, or that of ``finetuning_id`` when the caller has not read it
    (unknown: ``Finetuning.DoesNotExist``, before any other answer). ``jobs`` is how it is
    read (default: without its long lists); their annotations, such as the job's progress,
    come with the answer, as a cancel changes none of what they read.
    """
    cancel = _Cancel(
        finetuning_id or finetuning.pk,
        actor=actor,
        metadata=metadata,
        jobs=Finetuning.objects.without_long_lists() if jobs is None else jobs,
        seen=finetuning is not None,
    )
    cancel.refuse_unstorable_metadata()
    return cancel.run()


def finetuning_record_cancel_failed(*, finetuning: Finetuning, actor: str, message: str) -> None:
    """A cancel the provider did not take, in the job's timeline (the admin shows it)."""
    events.record_error(finetuning_id=finetuning.pk, actor=actor, message=message)


# What one turn of the cancel loop asks of the next: look at the job again at once, or
# after a pause (another process holds the cancel lease).
_LOOK_AGAIN = object()
_WAIT = object()


class _Cancel:
    """One call's cancel: its deadline, what it has read, and what it has asked once."""

    def __init__(self, finetuning_id: str, *, actor: str, metadata, jobs, seen: bool):
        self.finetuning_id, self.actor, self.metadata = finetuning_id, actor, metadata
        self.jobs = jobs
        # Waiting never outlasts the request's own deadline: the caller must get its answer
        # (503 at worst) before the web server's timeout kills the request.
        wait = settings.FINETUNING_CANCEL_WAIT_SECONDS
        remaining = ops_context.remaining_seconds()
        self.deadline = time.monotonic() + (wait if remaining is None else min(wait, remaining))
        self.pause = 0.02
        self.asked_the_provider = False
        self.seen = seen  # the job existed: not finding it now means it was deleted
        self.annotated: Finetuning | None = None  # the first read with ``jobs``' annotations
        self.request: dict = {}  # what the last claim wrote as the user's cancel request

    def refuse_unstorable_metadata(self) -> None:
        """Refuse, before anything is written, metadata that no cancel could store.

        The database is asked about the request's metadata alone: what the job and a
        pending request hold is stored already, so their merge stores too.
        """
        problems = validation.metadata_problems(self.metadata)
        if self.metadata and not problems:
            problems = _metadata_problems_at_the_database(self.finetuning_id, self.metadata)
        if problems:
            self.look()  # an unknown job is a 404, whatever the request holds
            raise_if({"metadata": problems})

    def run(self) -> CancelOutcome:
        while True:
            outcome = self.claimed() or self.unclaimed()
            if outcome is _LOOK_AGAIN:
                continue
            if outcome is not _WAIT:
                return self.with_annotations(outcome)
            if time.monotonic() > self.deadline:
                raise errors.CancelInProgress(retry_after=_cancel_retry_after(self.finetuning_id))
            time.sleep(self.pause)
            self.pause = min(self.pause * 2, 0.25)

    def claimed(self):
        """Cancel the job if this call can take its cancel lease; None if it cannot."""
        job = self.claim()
        if job is None:
            return None
        if not job.finetuning_job_id:
            return self.cancel_here(job)
        # A cancel whose request died after the provider accepted it (``cancel_request``
        # outlived its lease) is the one this retry completes, on behalf of whoever asked.
        request = job.cancel_request
        ours = (request.get("at"), request.get("actor")) == (self.request["at"], self.actor)
        pending = None if ours else request
        try:
            merged = self.checked_metadata(job, pending)
        except BaseException:
            release_cancel_lease(job, cancel_request=pending)  # as before the claim
            raise
        done = cancel_at_provider(job, request=request, pending=pending, metadata=merged)
        if done is None:
            return _LOOK_AGAIN
        # Completing another request's cancel (``pending``) records theirs, not ours.
        return CancelOutcome(done, cancelled_now=pending is None)

    def claim(self) -> Finetuning | None:
        """The job with its cancel lease taken, if it is active and no one holds the lease.

        One statement: the lease and the read are one ``UPDATE ... RETURNING``. The user's
        request goes with the lease only for a job at the provider (what a cancel there that
        outlives its request needs), and never replaces a pending one.
        """
        now = timezone.now()
        self.request = {"actor": self.actor, "at": now.isoformat(), "metadata": self.metadata}
        request = Case(
            When(finetuning_job_id=None, then=F("cancel_request")),
            default=Coalesce(F("cancel_request"), Value(self.request, output_field=JSONField())),
        )
        rows = self.jobs.defer(*Finetuning.LONG_FIELDS).active().cancel_lease_free(now)
        lease = now + timedelta(seconds=settings.FINETUNING_CANCEL_LEASE_SECONDS)
        job = update_returning(
            rows.filter(pk=self.finetuning_id),
            {"cancel_lease_until": lease, "cancel_request": request},
        )
        return self.saw(job)

    def unclaimed(self):
        """Why the job could not be claimed: it has finished, or another process cancels it."""
        job = self.look()
        if job.status == FinetuningStatus.CANCELLED:
            merged = _merge_cancel_metadata(job, actor=self.actor, metadata=self.metadata)
            return CancelOutcome(merged, cancelled_now=False)
        if job.status in TERMINAL_STATUSES:
            raise errors.FinetuningNotCancellable(job.status)
        pending = job.cancel_request if job.finetuning_job_id else None
        self.checked_metadata(job, pending)  # a request bound to be refused need not wait
        if pending and not self.asked_the_provider:
            # The lease may belong to a request that died after the provider accepted its
            # cancel (its database connection dropped): one look at the provider settles it
            # now instead of after the lease. A look, not a cancel: one process cancels.
            self.asked_the_provider = True
            if settle_pending_cancel(job, request=pending):
                return _LOOK_AGAIN
        return _WAIT

    def look(self) -> Finetuning:
        # The first read is the caller's own (the answer may be the job as it is); later
        # ones follow a write or a wait, and leave out the long lists.
        rows = self.jobs if self.annotated is None else Finetuning.objects.without_long_lists()
        job = self.saw(rows.filter(pk=self.finetuning_id).first())
        if job is not None:
            return job
        if not self.seen:
            raise Finetuning.DoesNotExist(f"No fine-tuning job with id {self.finetuning_id!r}.")
        raise errors.DeletedMeanwhile("fine-tuning job")  # a finished job may be deleted

    def saw(self, job: Finetuning | None) -> Finetuning | None:
        if job is not None:
            self.seen = True
            self.annotated = self.annotated or job
        return job

    def with_annotations(self, outcome: CancelOutcome) -> CancelOutcome:
        # The answer is often the cancel's own write, which reads no annotation.
        for name in self.jobs.query.annotations:
            if not hasattr(outcome.finetuning, name):
                setattr(outcome.finetuning, name, getattr(self.annotated, name))
        return outcome

    def checked_metadata(self, job: Finetuning, pending: dict | None):
        """The metadata the cancel will write, once everything that could refuse it agreed.

        Asked before the provider is: once the provider has stopped the job, the write must
        not fail on the data.
        """
        merged = merged_metadata(
            merged_metadata(job.metadata, (pending or {}).get("metadata")), self.metadata
        )
        raise_if({"metadata": validation.metadata_problems(merged)})
        return merged

    def cancel_here(self, job: Finetuning):
        """Cancel a job with no provider job, holding its cancel lease."""
        cancelled = None
        try:
            merged = self.checked_metadata(job, None)
            if job.provider_create_started_at is not None and attach_unrecorded_provider_job(
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
        finally:
            if cancelled is None:
                # The cancel's own write ends the lease; on any other outcome, the next
                # turn (or another request) must be able to take it again.
                release_cancel_lease(job)
        if cancelled is None:
            return _LOOK_AGAIN  # a provider job appeared, or the status moved
        return CancelOutcome(cancelled, cancelled_now=True)


METADATA_NOT_STORABLE_MESSAGE = (
    "The database cannot store this metadata (it holds characters that cannot be stored)."
)


def _metadata_problems_at_the_database(finetuning_id: str, metadata) -> list[str]:
    """Let the database itself say whether it accepts the metadata, then undo the write.

    The rules in ``validation`` describe what we know the databases refuse; this asks the
    one in use, so that nothing it refuses is found out only after the provider has acted.
    """
    try:
        with transaction.atomic():
            Finetuning.objects.filter(pk=finetuning_id).update(metadata=metadata)
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
