"""Clean up: no paid provider job is left running for a job that no longer wants it."""

from datetime import timedelta
from http import HTTPStatus

from django.conf import settings
from django.utils import timezone

from finetunings import selectors, services
from finetunings.models import Finetuning
from finetunings.providers import Provider, ProviderError, ProviderJob, ProviderRejected
from finetunings.worker.base import METADATA_KEY, Log

ORPHAN_SWEEP_BATCH = 50


def stop_late_provider_job(
    *, job: Finetuning, remote: ProviderJob, provider: Provider, log: Log
) -> None:
    """A provider job was created but the job no longer wants it: cancel it at the provider."""
    current = selectors.finetuning_get(finetuning_id=job.pk)
    if current.finetuning_job_id == remote.id:
        return  # another worker attached this very provider job: nothing is duplicated
    # Recorded on a finished job first, so that the clean-up retries if the cancel fails.
    finished = not current.is_active
    if finished:
        services.finetuning_record_late_provider_job(finetuning=job, remote=remote, stopped=False)
    try:
        stopped = _cancel_at_provider(provider, remote.id)
    except ProviderError as exc:
        log(f"{job.pk}: could not cancel provider job {remote.id} yet ({exc.message}); retrying")
        return
    if finished:
        services.finetuning_record_late_provider_job(finetuning=job, remote=stopped, stopped=True)
    log(
        f"{job.pk}: was cancelled meanwhile; asked the provider to stop job {remote.id}, "
        f"which now reports {stopped.status}"
    )


def _cancel_at_provider(provider: Provider, job_id: str) -> ProviderJob:
    try:
        return provider.cancel_job(job_id)
    except ProviderRejected:
        # Refused because it has already ended: what it is now is what we record.
        return provider.retrieve_job(job_id)


def stop_orphaned_provider_jobs(*, provider: Provider, log: Log) -> None:
    """Cancel provider jobs that outlived their job's cancel (a worker died in between)."""
    settled = timezone.now() - timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)
    for job in selectors.finetuning_orphaned_creates(
        provider=provider.name, started_before=settled, limit=ORPHAN_SWEEP_BATCH
    ):
        _stop_orphaned_create(job, provider=provider, log=log)
    for job in selectors.finetuning_still_running_at_provider(
        provider=provider.name, limit=ORPHAN_SWEEP_BATCH
    ):
        # One job the provider will not stop must not keep the others running (and billing).
        _stop_still_running(job, provider=provider, log=log)


def _stop_orphaned_create(job: Finetuning, *, provider: Provider, log: Log) -> None:
    """Cancelled while a (since dead) worker was creating its provider job."""
    try:
        remote = provider.find_job_by_metadata(key=METADATA_KEY, value=job.pk)
    except ProviderError as exc:
        log(f"{job.pk}: clean-up skipped ({exc.message}); the next pass tries again")
        return
    if remote is None:
        services.finetuning_clear_create_started(finetuning=job)
    else:
        stop_late_provider_job(job=job, remote=remote, provider=provider, log=log)


def _stop_still_running(job: Finetuning, *, provider: Provider, log: Log) -> None:
    """Recorded as still running at the provider after an earlier cancel attempt failed."""
    try:
        stopped = _cancel_at_provider(provider, job.finetuning_job_id)
    except ProviderRejected as exc:
        if exc.status_code == HTTPStatus.NOT_FOUND:
            # Nothing left to stop or pay for; record it so that no pass asks again.
            services.finetuning_record_provider_job_gone(finetuning=job, message=exc.message)
            log(f"{job.pk}: provider job {job.finetuning_job_id} no longer exists")
        else:
            log(f"{job.pk}: provider job {job.finetuning_job_id} refused to stop: {exc.message}")
        return
    except ProviderError as exc:
        log(f"{job.pk}: provider job {job.finetuning_job_id} not stopped yet ({exc.message})")
        return
    services.finetuning_record_late_provider_job(finetuning=job, remote=stopped, stopped=True)
    log(f"{job.pk}: cancelled provider job {job.finetuning_job_id} at the provider")
