"""One pass of the worker, as plain functions: without it a job never leaves ``queued``.

``run_once`` does three things, each safe to run in several processes at once and to kill
at any moment:

1. Submit: claim waiting jobs with a lease, build/check/keep the training file, upload it
   and create the provider job. No database lock or transaction is held during a network
   call; every result is written back with a conditional update that says whether it won.
   Creating a provider job costs money: it is never retried blindly. An attempt that may
   have created one already (a lost answer, a killed worker) looks it up by the job's id
   in the provider metadata first.
2. Refresh: follow active jobs with a handful of list calls (100 jobs per page) instead of
   one call per job, falling back to single retrieves for jobs not listed; store the
   provider's status, ``model_id`` or error, and its events in the timeline.
3. Clean up: a provider job created for a job that was cancelled meanwhile is cancelled at
   the provider, so no paid job is left running.
"""

import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from finetunings import notifications, services, training_data
from finetunings.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Finetuning, FinetuningStatus
from finetunings.providers import (
    Provider,
    ProviderError,
    ProviderJob,
    ProviderRejected,
    ProviderUnavailable,
    get_provider,
)

logger = logging.getLogger(__name__)

# Metadata key under which each provider job carries our job's id (see submit_job).
METADATA_KEY = "finetuning_id"
# Provider statuses of a job that still runs (and costs money) at the provider.
PROVIDER_ACTIVE_STATUSES = ("validating_files", "queued", "running")
ORPHAN_SWEEP_BATCH = 50
UNEXPECTED_ERROR_MESSAGE = "The worker hit an unexpected error ({error})."

Log = Callable[[str], None]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class PassReport:
    """What one pass did, for the command's output and for tests."""

    submitted: list[str] = field(default_factory=list)
    backed_off: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    refreshed: int = 0
    provider_calls: int = 0
    waiting_reason: str | None = None


def _configuration_problem(provider: Provider) -> str | None:
    check = getattr(provider, "configuration_problem", None)
    return check() if check is not None else None


def run_once(*, worker_id: str | None = None, log: Log | None = None) -> PassReport:
    """One pass: submit what waits, refresh what runs, stop what should not run."""
    worker_id = worker_id or new_worker_id()
    log = log or logger.info
    report = PassReport()
    # Webhook endpoints hear of jobs that ended (since the last pass); never breaks the pass.
    notifications.notifications_run_once(log=log)
    if settings.FINETUNING_SANDBOX_ENABLED and "sandbox" in settings.FINETUNING_PROVIDERS:
        # Sandbox jobs need no key, so they run even when the real provider cannot.
        sandbox = get_provider("sandbox")
        submit_waiting_jobs(provider=sandbox, worker_id=worker_id, log=log, report=report)
        refresh_active_jobs(provider=sandbox, log=log, report=report)
    provider = get_provider(settings.FINETUNING_DEFAULT_PROVIDER)
    problem = _configuration_problem(provider)
    if problem:
        told = services.finetuning_set_waiting_reason(reason=problem, model_provider=provider.name)
        report.waiting_reason = problem
        log(f"waiting: {problem} ({told} queued jobs updated)")
        return report
    submit_waiting_jobs(provider=provider, worker_id=worker_id, log=log, report=report)
    refresh_active_jobs(provider=provider, log=log, report=report)
    stop_orphaned_provider_jobs(provider=provider, log=log)
    return report


# --- Submit ----------------------------------------------------------------------------


def submit_waiting_jobs(
    *, provider: Provider, worker_id: str, log: Log, report: PassReport | None = None
) -> None:
    report = report if report is not None else PassReport()
    jobs = services.finetuning_claim_for_submission(
        worker_id=worker_id,
        limit=settings.FINETUNING_WORKER_SUBMIT_BATCH,
        model_provider=provider.name,
    )
    for job in jobs:
        try:
            submit_job(job=job, provider=provider, worker_id=worker_id, log=log, report=report)
        except Exception as exc:  # a bug must not leave the job leased and silent
            logger.exception("Submitting %s failed unexpectedly", job.pk)
            reason = UNEXPECTED_ERROR_MESSAGE.format(error=exc)
            services.finetuning_back_off(finetuning=job, worker_id=worker_id, reason=reason)
            report.backed_off.append(job.pk)
            log(f"{job.pk}: {reason}")


def submit_job(
    *, job: Finetuning, provider: Provider, worker_id: str, log: Log, report: PassReport
) -> None:
    """Take one claimed job as far as a provider job; every step can be resumed."""
    if not services.finetuning_start_validating(finetuning=job, worker_id=worker_id):
        log(f"{job.pk}: no longer waiting (cancelled or taken over); skipped")
        return
    job.refresh_from_db()
    try:
        if not job.training_file:
            if not _build_training_file(job=job, worker_id=worker_id, log=log):
                return
            job.refresh_from_db()
        if not job.finetuning_file_id:
            with job.training_file.open("rb") as file:
                file_id = provider.upload_training_file(filename=f"{job.pk}.jsonl", file=file)
            if not services.finetuning_record_uploaded_file(
                finetuning=job, worker_id=worker_id, file_id=file_id
            ):
                log(f"{job.pk}: cancelled or taken over while its file was uploading; stopped")
                return
            job.finetuning_file_id = file_id
            log(f"{job.pk}: training file uploaded as {file_id}")

        remote = None
        if job.provider_create_started_at is not None:
            # An earlier attempt may have created the job and lost the answer: look first.
            remote = provider.find_job_by_metadata(key=METADATA_KEY, value=job.pk)
            if remote is not None:
                log(f"{job.pk}: found provider job {remote.id} from an earlier attempt")
        if remote is None:
            if not services.finetuning_mark_create_started(finetuning=job, worker_id=worker_id):
                log(f"{job.pk}: no longer held by this worker; stopped before creating")
                return
            remote = provider.create_job(
                training_file_id=job.finetuning_file_id,
                model=job.model_name,
                hyperparameters=job.model_parameters or {},
                suffix=job.alias,
                metadata={METADATA_KEY: job.pk},
            )
    except training_data.TrainingDataRejected as exc:
        _fail(job, worker_id=worker_id, reason=exc.message, log=log, report=report)
        return
    except ProviderRejected as exc:
        _fail(job, worker_id=worker_id, reason=exc.message, log=log, report=report)
        return
    except ProviderUnavailable as exc:
        message = services.finetuning_back_off(
            finetuning=job, worker_id=worker_id, reason=exc.message
        )
        report.backed_off.append(job.pk)
        log(f"{job.pk}: {message or exc.message}")
        return

    if services.finetuning_attach_provider_job(finetuning=job, remote=remote):
        report.submitted.append(job.pk)
        log(f"{job.pk}: submitted as provider job {remote.id} ({remote.status})")
        return
    stop_late_provider_job(job=job, remote=remote, provider=provider, log=log)


def _fail(job: Finetuning, *, worker_id: str, reason: str, log: Log, report: PassReport) -> None:
    if services.finetuning_fail(finetuning=job, worker_id=worker_id, reason=reason):
        report.failed.append(job.pk)
        log(f"{job.pk}: failed: {reason}")
    else:
        log(f"{job.pk}: not failed ({reason}): cancelled or taken over by another worker")


def _build_training_file(*, job: Finetuning, worker_id: str, log: Log) -> bool:
    with tempfile.TemporaryFile() as file:
        summary = training_data.write_training_file(finetuning=job, out=file)
        file.seek(0)
        kept = services.finetuning_store_training_file(
            finetuning=job, worker_id=worker_id, file=file, summary=summary.as_dict()
        )
    if kept:
        log(
            f"{job.pk}: training file built: {summary.examples} examples, {summary.tokens} "
            f"tokens ({summary.token_counting})"
        )
    else:
        log(f"{job.pk}: cancelled or taken over while its file was built; stopped")
    return kept


def stop_late_provider_job(
    *, job: Finetuning, remote: ProviderJob, provider: Provider, log: Log
) -> None:
    """A provider job was created but the job no longer wants it: cancel it at the provider."""
    current = Finetuning.objects.get(pk=job.pk)
    if current.finetuning_job_id == remote.id:
        return  # another worker attached this very provider job: nothing is duplicated
    # Recorded on a finished job first, so that the clean-up retries if the cancel fails.
    finished = current.status in TERMINAL_STATUSES
    if finished:
        services.finetuning_record_late_provider_job(finetuning=job, remote=remote, stopped=False)
    try:
        stopped = _cancel_at_provider(provider, remote.id)
    except ProviderError as exc:
        log(f"{job.pk}: could not cancel provider job {remote.id} yet ({exc.message}); retrying")
        return
    if finished:
        services.finetuning_record_late_provider_job(finetuning=job, remote=stopped, stopped=True)
    log(f"{job.pk}: was cancelled meanwhile; cancelled provider job {remote.id} at the provider")


def _cancel_at_provider(provider: Provider, job_id: str) -> ProviderJob:
    try:
        return provider.cancel_job(job_id)
    except ProviderRejected:
        # Refused because it has already ended: what it is now is what we record.
        return provider.retrieve_job(job_id)


# --- Refresh ---------------------------------------------------------------------------


def refresh_active_jobs(*, provider: Provider, log: Log, report: PassReport | None = None):
    """Bring every active job due for a poll in line with the provider, in few calls."""
    report = report if report is not None else PassReport()
    now = timezone.now()
    poll_before = now - timedelta(seconds=settings.FINETUNING_WORKER_POLL_SECONDS)
    tracked = {
        job.finetuning_job_id: job
        for job in Finetuning.objects.filter(
            status__in=ACTIVE_STATUSES,
            finetuning_job_id__isnull=False,
            model_provider=provider.name,
        )
        .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=poll_before))
        .only(
            "id",
            "status",
            "provider_status",
            "status_message",
            "finetuning_job_id",
            "model_provider",
        )
    }
    if not tracked:
        return report
    remaining = set(tracked)
    page_size = settings.FINETUNING_WORKER_LIST_PAGE_SIZE
    after = None
    try:
        for _page in range(settings.FINETUNING_WORKER_LIST_MAX_PAGES):
            page = provider.list_jobs(after=after, limit=page_size)
            report.provider_calls += 1
            for remote in page:
                if remote.id in remaining:
                    remaining.discard(remote.id)
                    _apply(tracked[remote.id], remote, provider, log, report)
            if not remaining or len(page) < page_size:
                break
            after = page[-1].id
        for job_id in sorted(remaining):
            try:
                remote = provider.retrieve_job(job_id)
            except ProviderRejected as exc:
                services.finetuning_record_provider_problem(
                    finetuning=tracked[job_id], message=exc.message
                )
                log(f"{tracked[job_id].pk}: the provider cannot show job {job_id}: {exc.message}")
                continue
            finally:
                report.provider_calls += 1
            _apply(tracked[job_id], remote, provider, log, report)
    except ProviderError as exc:
        # Passing or not (a proxy's 404 on the list call), the next pass asks again.
        log(f"refresh stopped: {exc.message}; the next pass tries again")
    return report


def refresh_job(*, finetuning: Finetuning, log: Log | None = None) -> None:
    """Refresh one job now (a webhook said it changed); raises ProviderError."""
    provider = get_provider(finetuning.model_provider)
    if not finetuning.finetuning_job_id or not finetuning.is_active:
        return
    remote = provider.retrieve_job(finetuning.finetuning_job_id)
    _apply(finetuning, remote, provider, log or logger.info, PassReport())


def _apply(job: Finetuning, remote: ProviderJob, provider: Provider, log: Log, report) -> None:
    moved = services.finetuning_apply_provider_job(finetuning=job, remote=remote, actor="provider")
    services.finetuning_record_polled(finetuning_ids=[job.pk])
    report.refreshed += 1
    # Events only when something happened: one call per changed job, not per job per pass.
    if moved or remote.status != job.provider_status:
        try:
            events = provider.list_job_events(remote.id)
            report.provider_calls += 1
        except ProviderError as exc:
            log(f"{job.pk}: provider events unavailable ({exc.message})")
        else:
            services.finetuning_record_provider_events(finetuning=job, events=events)
    if moved:
        job.refresh_from_db(fields=["model_id", "error"])
        detail = job.model_id or job.error or ""
        log(f"{job.pk}: {remote.status}" + (f" ({detail})" if detail else ""))


# --- Clean up --------------------------------------------------------------------------


def stop_orphaned_provider_jobs(*, provider: Provider, log: Log) -> None:
    """Cancel provider jobs that outlived their job's cancel (a worker died in between)."""
    now = timezone.now()
    settled = now - timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)
    finished = Finetuning.objects.filter(status__in=TERMINAL_STATUSES, model_provider=provider.name)
    # Cancelled while a (since dead) worker was creating its provider job.
    for job in finished.filter(
        status=FinetuningStatus.CANCELLED,
        finetuning_job_id__isnull=True,
        provider_create_started_at__lt=settled,
    )[:ORPHAN_SWEEP_BATCH]:
        try:
            remote = provider.find_job_by_metadata(key=METADATA_KEY, value=job.pk)
        except ProviderError as exc:
            log(f"{job.pk}: clean-up skipped ({exc.message}); the next pass tries again")
            continue
        if remote is None:
            services.finetuning_clear_create_started(finetuning=job)
        else:
            stop_late_provider_job(job=job, remote=remote, provider=provider, log=log)
    # Recorded as still running at the provider after an earlier cancel attempt failed.
    for job in finished.filter(
        finetuning_job_id__isnull=False, provider_status__in=PROVIDER_ACTIVE_STATUSES
    )[:ORPHAN_SWEEP_BATCH]:
        # One job the provider will not stop must not keep the others running (and billing).
        try:
            stopped = _cancel_at_provider(provider, job.finetuning_job_id)
        except ProviderRejected as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                # Nothing left to stop or pay for; record it so that no pass asks again.
                services.finetuning_record_provider_job_gone(finetuning=job, message=exc.message)
                log(f"{job.pk}: provider job {job.finetuning_job_id} no longer exists")
            else:
                log(
                    f"{job.pk}: provider job {job.finetuning_job_id} refused to stop: {exc.message}"
                )
            continue
        except ProviderError as exc:
            log(f"{job.pk}: provider job {job.finetuning_job_id} not stopped yet ({exc.message})")
            continue
        services.finetuning_record_late_provider_job(finetuning=job, remote=stopped, stopped=True)
        log(f"{job.pk}: cancelled provider job {job.finetuning_job_id} at the provider")
