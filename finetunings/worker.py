"""One pass of the worker, as plain functions: without it a job never leaves ``queued``.

``run_once`` does three things, each safe to run in several processes at once and to kill
at any moment:

1. Submit: claim waiting jobs with a lease, build/check/keep the training file (and the
   validation file of a job with a split), upload them and create the provider job. No database lock or transaction is held during a network
   call; every result is written back with a conditional update that says whether it won.
   Creating a provider job costs money: it is never retried blindly. An attempt that may
   have created one already (a lost answer, a killed worker) looks it up by the job's id
   in the provider metadata first.
2. Refresh: claim one batch of due active jobs with a lease (so any number of workers
   share the refresh), cover it with a list call or two (100 jobs per page), retrieve what
   the list missed, read the new events of running jobs, and write only what changed.
   One job's failure stops that job only; a 429 pauses the provider for every worker.
3. Clean up: a provider job created for a job that was cancelled meanwhile is cancelled at
   the provider, so no paid job is left running.

A pass is short (one submission batch, one refresh batch), so submitting and following
interleave, and ``stop`` (SIGTERM) is honoured between jobs, with unused leases given back.
"""

import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus

from django.conf import settings
from django.utils import timezone

from finetunings import evaluation_worker, notifications, services, training_data, validation_split
from finetunings.models import (
    PROVIDER_ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Finetuning,
    FinetuningStatus,
)
from finetunings.ops import context as ops_context
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
METADATA_KEY = services.PROVIDER_METADATA_KEY
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
    claimed: int = 0  # jobs the refresh claimed (a full batch: more may be due)
    refresh_failed: list[str] = field(default_factory=list)
    events: int = 0
    rate_limited: bool = False
    provider_calls: int = 0
    waiting_reason: str | None = None
    submit_claimed: int = 0

    @property
    def busy(self) -> bool:
        """Whether a batch was full: more work may be waiting, so no pause before the next."""
        return (
            self.claimed >= settings.FINETUNING_WORKER_REFRESH_BATCH
            or self.submit_claimed >= settings.FINETUNING_WORKER_SUBMIT_BATCH
        ) and not self.rate_limited


def _configuration_problem(provider: Provider) -> str | None:
    check = getattr(provider, "configuration_problem", None)
    return check() if check is not None else None


# When this process last swept for orphaned provider jobs (see run_once).
_last_sweep = {"at": float("-inf")}


def run_once(
    *, worker_id: str | None = None, log: Log | None = None, stop: threading.Event | None = None
) -> PassReport:
    """One pass: submit what waits, refresh one batch of what runs, stop what should not run.

    ``stop`` set (SIGTERM) ends the pass at the next job, with its unused leases given back.
    """
    worker_id = worker_id or new_worker_id()
    log = log or logger.info
    report = PassReport()
    # Webhook endpoints hear of jobs that ended (since the last pass); never breaks the pass.
    notifications.notifications_run_once(log=log)
    if settings.FINETUNING_SANDBOX_ENABLED and "sandbox" in settings.FINETUNING_PROVIDERS:
        # Sandbox jobs need no key, so they run even when the real provider cannot.
        sandbox = get_provider("sandbox")
        submit_waiting_jobs(
            provider=sandbox, worker_id=worker_id, log=log, report=report, stop=stop
        )
        refresh_active_jobs(
            provider=sandbox, worker_id=worker_id, log=log, report=report, stop=stop
        )
    provider = get_provider(settings.FINETUNING_DEFAULT_PROVIDER)
    problem = _configuration_problem(provider)
    if problem:
        told = services.finetuning_set_waiting_reason(reason=problem, model_provider=provider.name)
        report.waiting_reason = problem
        log(f"waiting: {problem} ({told} queued jobs updated)")
        # Sandbox jobs' evaluations run; the others wait, saying why (the provider's problem).
        evaluation_worker.run_evaluations(worker_id=worker_id, log=log, stop=stop)
        return report
    submit_waiting_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    if stop is not None and stop.is_set():
        return report
    refresh_active_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    # After the jobs: one evaluation, for one pass's budget of model calls.
    evaluation_worker.run_evaluations(worker_id=worker_id, log=log, stop=stop)
    # The clean-up runs when the refresh has caught up, or at least once per poll interval
    # when it has not: a busy worker does not spend two queries per batch on it.
    now = time.monotonic()
    sweep_due = now - _last_sweep["at"] >= settings.FINETUNING_WORKER_POLL_SECONDS
    stopping = stop is not None and stop.is_set()
    if (not report.busy or sweep_due) and not stopping and not report.rate_limited:
        _last_sweep["at"] = now
        stop_orphaned_provider_jobs(provider=provider, log=log)
    return report


# --- Submit ----------------------------------------------------------------------------


def submit_waiting_jobs(
    *,
    provider: Provider,
    worker_id: str,
    log: Log,
    report: PassReport | None = None,
    stop: threading.Event | None = None,
) -> None:
    report = report if report is not None else PassReport()
    jobs = services.finetuning_claim_for_submission(
        worker_id=worker_id,
        limit=settings.FINETUNING_WORKER_SUBMIT_BATCH,
        model_provider=provider.name,
    )
    report.submit_claimed = len(jobs)
    for index, job in enumerate(jobs):
        if report.rate_limited or (stop is not None and stop.is_set()):
            # Stopping, or the provider asked everyone to wait: the rest go back untouched.
            rest = [other.pk for other in jobs[index:]]
            services.finetuning_release(finetuning_ids=rest, worker_id=worker_id)
            break
        # Log lines about this job carry its id (job_id in the JSON logs).
        with ops_context.bound(ops_context.job_id, job.pk):
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
        # Both files are checked before either is uploaded: one refused is refused early.
        if not _build_validation_file(job=job, worker_id=worker_id, log=log):
            return
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
        if not _upload_validation_file(job=job, provider=provider, worker_id=worker_id, log=log):
            return

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
                validation_file_id=job.validation_file_id,
            )
    except training_data.TrainingDataRejected as exc:
        _fail(job, worker_id=worker_id, reason=exc.message, log=log, report=report)
        return
    except ProviderRejected as exc:
        _fail(job, worker_id=worker_id, reason=exc.message, log=log, report=report)
        return
    except ProviderUnavailable as exc:
        _pause_if_rate_limited(exc, provider=provider, log=log, report=report)
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


def _build_validation_file(*, job: Finetuning, worker_id: str, log: Log) -> bool:
    """Build, check and keep the held-out records' file once; False: the job moved on."""
    if not job.validation_golden_records or job.validation_file:
        return True  # no split, or built already
    with tempfile.TemporaryFile() as file:
        summary = training_data.write_validation_file(finetuning=job, out=file)
        file.seek(0)
        if not validation_split.finetuning_store_validation_file(
            finetuning=job, worker_id=worker_id, file=file, summary=summary.as_dict()
        ):
            log(f"{job.pk}: cancelled or taken over while its validation file was built")
            return False
    log(f"{job.pk}: validation file built: {summary.examples} examples")
    job.refresh_from_db()
    return True


def _upload_validation_file(*, job: Finetuning, provider: Provider, worker_id: str, log: Log):
    """Upload the kept validation file (the same bytes on every retry); False: moved on."""
    if not job.validation_file or job.validation_file_id:
        return True  # no split, or uploaded already
    with job.validation_file.open("rb") as file:
        file_id = provider.upload_training_file(filename=f"{job.pk}-validation.jsonl", file=file)
    if not validation_split.finetuning_record_uploaded_validation_file(
        finetuning=job, worker_id=worker_id, file_id=file_id
    ):
        log(f"{job.pk}: cancelled or taken over while its validation file was uploading")
        return False
    job.validation_file_id = file_id
    log(f"{job.pk}: validation file uploaded as {file_id}")
    return True


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


# --- Refresh ---------------------------------------------------------------------------
#
# Each pass claims one batch of due jobs (oldest poll first) with a lease, so several
# workers share the refresh and each due job is polled about once per
# FINETUNING_WORKER_POLL_SECONDS whatever their number. The batch is newest first, as the
# provider lists jobs, and the claim says which of our jobs sits just above it: one list
# call that starts there covers up to 100 jobs of the batch. Jobs a list does not cover
# are retrieved one by one, a few at a time. Events are read for running jobs every poll.
# Network calls run in a small thread pool with no database work; the main thread writes.

# Room left between the events read before and after a budget cut a read short: the
# missing (older) events are numbered downwards into it when they are read later.
EVENT_GAP_ROOM = 10**9
EVENT_PAGE_SIZE = 100


@dataclass
class _Followed:
    """What the provider said about one claimed job (gathered off the main thread)."""

    job: Finetuning
    remote: ProviderJob | None = None
    error: ProviderError | None = None
    events: list = field(default_factory=list)
    cursor: dict | None = None
    events_error: ProviderError | None = None
    skipped: bool = False
    calls: int = 0
    succeeded_now: bool = False  # this poll recorded the job's success
    checkpoints: list | None = None  # read this poll (None: not asked)
    checkpoints_error: ProviderError | None = None


class _Budget:
    """Event pages a pass may still read, shared by the pass's threads."""

    def __init__(self, pages: int):
        self._pages = pages
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._pages <= 0:
                return False
            self._pages -= 1
            return True


def refresh_active_jobs(
    *,
    provider: Provider,
    log: Log,
    worker_id: str | None = None,
    report: PassReport | None = None,
    stop: threading.Event | None = None,
) -> PassReport:
    """Claim one batch of due active jobs and bring each in line with the provider."""
    report = report if report is not None else PassReport()
    worker_id = worker_id or new_worker_id()
    jobs = services.finetuning_claim_for_refresh(
        worker_id=worker_id, provider=provider.name, limit=settings.FINETUNING_WORKER_REFRESH_BATCH
    )
    report.claimed += len(jobs)
    if not jobs:
        return report
    try:
        listed = _list_batch(jobs, provider=provider, report=report)
    except ProviderError as exc:
        # Passing or not (a proxy's 404 on the list call), the next pass asks again.
        _pause_if_rate_limited(exc, provider=provider, log=log, report=report)
        services.finetuning_release(finetuning_ids=[job.pk for job in jobs], worker_id=worker_id)
        log(f"refresh stopped: {exc.message}; the next pass tries again")
        return report

    halt = threading.Event()  # set on SIGTERM or a 429: calls not yet made are not made
    budget = _Budget(settings.FINETUNING_WORKER_EVENT_PAGES_PER_PASS)

    def follow(job: Finetuning) -> _Followed:
        if halt.is_set() or (stop is not None and stop.is_set()):
            return _Followed(job=job, skipped=True)
        return _follow(job, listed.get(job.finetuning_job_id), provider, budget, halt)

    polled, released, events_read, finished_with_results = [], [], [], []
    checkpoints_read = []
    workers = max(settings.FINETUNING_WORKER_PROVIDER_CONCURRENCY, 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        for followed in pool.map(follow, jobs):
            report.provider_calls += followed.calls
            try:
                done = _record(
                    followed,
                    provider=provider,
                    worker_id=worker_id,
                    log=log,
                    report=report,
                    events_read=events_read,
                )
                if done and followed.checkpoints is not None:
                    checkpoints_read.append((followed.job, followed.checkpoints))
            except Exception:  # a bug with one job must not cost the others their poll
                logger.exception("Refreshing %s failed unexpectedly", followed.job.pk)
                done = False
            (polled if done else released).append(followed.job.pk)
            if done and followed.succeeded_now and followed.remote.result_files:
                finished_with_results.append(followed)
    # Before the poll time: should this fail, the jobs stay due and their events are read
    # again (each is stored once whatever happens).
    services.finetuning_record_provider_events_of_batch(items=events_read)
    services.finetuning_record_checkpoints_of_batch(items=checkpoints_read)
    # After the events, so the file completes what they stored rather than the reverse.
    for followed in finished_with_results:
        _record_result_files(followed, provider=provider, log=log, report=report)
    services.finetuning_record_polled(finetuning_ids=polled, worker_id=worker_id)
    services.finetuning_release(finetuning_ids=released, worker_id=worker_id)
    report.refreshed += len(polled)
    return report


def _list_batch(jobs: list[Finetuning], *, provider: Provider, report: PassReport) -> dict:
    """The provider's view of as many of the batch's jobs as a few list pages hold."""
    remaining = {job.finetuning_job_id for job in jobs}
    after = getattr(jobs[0], "list_anchor", None)
    found: dict[str, ProviderJob] = {}
    for _page in range(settings.FINETUNING_WORKER_LIST_MAX_PAGES):
        limit = min(settings.FINETUNING_WORKER_LIST_PAGE_SIZE, len(remaining))
        page = provider.list_jobs(after=after, limit=limit)
        report.provider_calls += 1
        for remote in page:
            if remote.id in remaining:
                remaining.discard(remote.id)
                found[remote.id] = remote
        if not remaining or len(page) < limit:
            break
        after = page[-1].id
    return found


def _follow(
    job: Finetuning,
    remote: ProviderJob | None,
    provider: Provider,
    budget: _Budget,
    halt: threading.Event,
) -> _Followed:
    followed = _Followed(job=job, remote=remote)
    if remote is None:
        try:
            followed.calls += 1
            followed.remote = provider.retrieve_job(job.finetuning_job_id)
        except ProviderError as exc:
            if exc.rate_limited:
                halt.set()
            followed.error = exc
            return followed
    status = followed.remote.status
    cursor = job.provider_events_cursor or {}
    if status == "running" or status != job.provider_status or cursor.get("gap_after"):
        try:
            followed.events, followed.cursor, pages = fetch_new_events(
                provider=provider, job_id=job.finetuning_job_id, cursor=cursor, budget=budget
            )
            followed.calls += pages
        except ProviderError as exc:
            if exc.rate_limited:
                halt.set()
            followed.events_error = exc
    if _checkpoints_may_have_changed(followed) and not halt.is_set():
        try:
            followed.calls += 1
            followed.checkpoints = provider.list_job_checkpoints(job.finetuning_job_id)
        except ProviderError as exc:
            if exc.rate_limited:
                halt.set()
            followed.checkpoints_error = exc
    return followed


def _checkpoints_may_have_changed(followed: _Followed) -> bool:
    # Asked only when there is news, not at every poll of a running job: the provider
    # announces each checkpoint with an event ("Checkpoint created at step N"), and the
    # job's end settles them.
    if followed.remote.status != followed.job.provider_status and followed.remote.status in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        return True
    return any(
        getattr(event, "type", "message") == "checkpoint"
        or "checkpoint" in (event.message or "").lower()
        for event, _sequence in followed.events
    )


def fetch_new_events(
    *, provider: Provider, job_id: str, cursor: dict, budget: _Budget | None = None
) -> tuple[list, dict | None, int]:
    """The job's events not yet stored, with their place in the provider's order.

    OpenAI lists events newest first and ``after`` pages towards older ones, so what is new
    is read from the top down to the newest event already stored. When the page budget
    cuts that short, the events read are numbered above a gap of EVENT_GAP_ROOM and the
    cursor remembers the gap (from the oldest event read down to the newest one stored
    before), which the next poll fills first. Returns ``(event, sequence)`` pairs, the new
    cursor (None when unchanged) and the number of pages read.
    """
    per_job = max(settings.FINETUNING_WORKER_EVENT_PAGES_PER_JOB, 1)
    pages = 0

    def may_read() -> bool:
        # The first page of every job is always read: the budget bounds the extra ones,
        # so no job waits for its events behind another one's long history.
        return pages == 0 or (pages < per_job and (budget is None or budget.take()))

    if cursor.get("gap_after"):
        after, until, sequence = cursor["gap_after"], cursor.get("gap_until"), cursor["gap_seq"]
        found = []
        closed = False
        while may_read():
            page = provider.list_job_events(job_id, after=after, limit=EVENT_PAGE_SIZE)
            pages += 1
            for event in page.events:
                if event.id == until:
                    closed = True
                    break
                found.append((event, sequence))
                sequence -= 1
                after = event.id
            if closed or not page.has_more or not page.events:
                closed = True
                break
        new_cursor = {key: value for key, value in cursor.items() if not key.startswith("gap_")}
        if not closed:
            new_cursor.update(gap_after=after, gap_until=until, gap_seq=sequence)
        return found, new_cursor, pages

    newest_id, newest_seq = cursor.get("newest_id"), cursor.get("newest_seq", 0)
    fetched = []
    after = None
    reached = False
    while may_read():
        page = provider.list_job_events(job_id, after=after, limit=EVENT_PAGE_SIZE)
        pages += 1
        for event in page.events:
            if event.id == newest_id:
                reached = True
                break
            fetched.append(event)
        if reached or not page.has_more or not page.events:
            reached = True
            break
        after = page.events[-1].id
    if not fetched:
        return [], None, pages
    base = newest_seq if reached else newest_seq + EVENT_GAP_ROOM
    found = [(event, base + index) for index, event in enumerate(reversed(fetched), start=1)]
    new_cursor = {"newest_id": fetched[0].id, "newest_seq": base + len(fetched)}
    if not reached:
        new_cursor.update(gap_after=fetched[-1].id, gap_until=newest_id, gap_seq=base)
    return found, new_cursor, pages


def _record(
    followed: _Followed,
    *,
    provider: Provider,
    worker_id: str,
    log: Log,
    report: PassReport,
    events_read: list,
) -> bool:
    """Write what was learned about one job; True when it counts as polled.

    Its new events are added to ``events_read``, written for the whole batch at once.
    """
    job = followed.job
    if followed.skipped:
        return False
    if followed.error is not None:
        exc = followed.error
        if _pause_if_rate_limited(exc, provider=provider, log=log, report=report):
            return False
        # One job's failure is that job's: recorded on it, and the pass goes on.
        passing = not isinstance(exc, ProviderRejected)
        services.finetuning_record_provider_problem(
            finetuning=job, message=exc.message, worker_id=worker_id, polled=not passing
        )
        report.refresh_failed.append(job.pk)
        log(f"{job.pk}: the provider cannot show job {job.finetuning_job_id}: {exc.message}")
        return False
    remote = followed.remote
    moved = services.finetuning_apply_provider_job(finetuning=job, remote=remote, actor="provider")
    if followed.events_error is not None:
        _pause_if_rate_limited(followed.events_error, provider=provider, log=log, report=report)
        log(f"{job.pk}: provider events unavailable ({followed.events_error.message})")
    elif followed.events or followed.cursor is not None:
        events_read.append((job, followed.events, followed.cursor))
        report.events += len(followed.events)
    followed.succeeded_now = moved and remote.mapped_status == FinetuningStatus.SUCCEEDED
    if followed.checkpoints_error is not None:
        _pause_if_rate_limited(
            followed.checkpoints_error, provider=provider, log=log, report=report
        )
        log(f"{job.pk}: checkpoints unavailable ({followed.checkpoints_error.message})")
    if moved:
        job.refresh_from_db(fields=["model_id", "error"])
        detail = job.model_id or job.error or ""
        log(f"{job.pk}: {remote.status}" + (f" ({detail})" if detail else ""))
    return True


def _record_result_files(
    followed: _Followed, *, provider: Provider, log: Log, report: PassReport
) -> None:
    """Complete a job that just succeeded with its result file's full per-step table."""
    job = followed.job
    for file_id in followed.remote.result_files:
        try:
            content = provider.read_result_file(file_id)
            report.provider_calls += 1
        except ProviderError as exc:
            # The steps the events brought stay; the job is finished and not polled again.
            _pause_if_rate_limited(exc, provider=provider, log=log, report=report)
            log(f"{job.pk}: result file {file_id} unavailable ({exc.message})")
            continue
        steps = services.finetuning_record_result_file(finetuning=job, content=content)
        log(f"{job.pk}: result file {file_id} held {steps} steps")


def _pause_if_rate_limited(
    exc: ProviderError, *, provider: Provider, log: Log, report: PassReport
) -> bool:
    """A 429 pauses the provider for every worker, for as long as it asked; once per pass."""
    if not exc.rate_limited:
        return False
    if not report.rate_limited:
        seconds = exc.retry_after
        if seconds is None:
            seconds = settings.FINETUNING_WORKER_RATE_LIMIT_PAUSE_SECONDS
        services.provider_pause(provider=provider.name, seconds=seconds, reason=exc.message)
        report.rate_limited = True
        log(f"provider {provider.name} paused for {seconds:g} s by every worker: {exc.message}")
    return True


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
    ).order_by("provider_create_started_at")[:ORPHAN_SWEEP_BATCH]:
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
    # No ORDER BY: sorting by the default (creation) would walk the whole history's index
    # instead of this sweep's partial index.
    for job in finished.filter(
        finetuning_job_id__isnull=False, provider_status__in=PROVIDER_ACTIVE_STATUSES
    ).order_by()[:ORPHAN_SWEEP_BATCH]:
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
