"""The provider's side of a cancel, done while the cancel holds the job's cancel lease.

``cancel`` takes the lease (and reads the job) in one statement; what it then asks of the
provider, and how it writes the provider's answer or gives the lease back, is here.
"""

import logging
import time
from datetime import datetime

from django.db import DatabaseError, InterfaceError, OperationalError
from django.db import connection as db_connection
from django.db.models import Q

from finetunings import errors
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.providers import ProviderError, ProviderRejected, get_provider
from finetunings.services.provider_sync import finetuning_apply_provider_job
from finetunings.services.submission import attach_remote_job
from finetunings.services.transitions import mark_cancelled_by_user, record_requested_cancel
from finetunings.status import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

# Metadata key under which each provider job carries our job's id: how a create whose
# answer was lost is found again (see ``worker.submit_job``).
PROVIDER_METADATA_KEY = "finetuning_id"
FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE = (
    "Found the provider job {job_id}, created for this job but never recorded (the create's "
    "answer was lost or its worker stopped), by this job's id in its metadata."
)


def attach_unrecorded_provider_job(job: Finetuning, *, actor: str) -> bool:
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


def settle_pending_cancel(job: Finetuning, *, request: dict) -> bool:
    """Record ``request`` if the provider already reports the job cancelled."""
    try:
        remote = get_provider(job.model_provider).retrieve_job(job.finetuning_job_id)
    except ProviderError:
        return False  # the lease holder, or its expiry, decides
    if remote.mapped_status != FinetuningStatus.CANCELLED:
        return False
    record_requested_cancel(job.pk, request=request, provider_status=remote.status)
    return True


KEEP = object()


def release_cancel_lease(job: Finetuning, *, cancel_request=KEEP) -> None:
    """Let a retry cancel again; best effort, as the database may be what failed."""
    fields = {"cancel_lease_until": None}
    if cancel_request is not KEEP:
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


def cancel_at_provider(
    job: Finetuning, *, request: dict, pending: dict | None, metadata
) -> Finetuning | None:
    """Cancel at the provider while holding the lease; None means "look at the job again"."""
    try:
        # Inside the try: a provider no longer configured must give the lease back too.
        provider = get_provider(job.model_provider)
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
        release_cancel_lease(job, cancel_request=request if exc.may_have_acted else pending)
        raise
    except BaseException:
        # So that a retry, here or elsewhere, can try again; nothing else has changed.
        release_cancel_lease(job, cancel_request=pending)
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
            release_cancel_lease(job)
