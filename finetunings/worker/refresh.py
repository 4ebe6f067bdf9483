"""Refresh: bring one claimed batch of active jobs in line with the provider."""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from finetunings import services
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.providers import Provider, ProviderError, ProviderJob, ProviderRejected
from finetunings.worker.base import Log, PassReport, new_worker_id, pause_if_rate_limited
from finetunings.worker.provider_events import Budget, fetch_new_events

logger = logging.getLogger(__name__)


# --- Refresh ---------------------------------------------------------------------------
#
# Each pass claims one batch of due jobs (oldest poll first) with a lease, so several
# workers share the refresh and each due job is polled about once per
# FINETUNING_WORKER_POLL_SECONDS whatever their number. The batch is newest first, as the
# provider lists jobs, and the claim says which of our jobs sits just above it: one list


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
        pause_if_rate_limited(exc, provider=provider, log=log, report=report)
        services.finetuning_release(finetuning_ids=[job.pk for job in jobs], worker_id=worker_id)
        log(f"refresh stopped: {exc.message}; the next pass tries again")
        return report

    batch = _follow_batch(
        jobs, listed, provider=provider, worker_id=worker_id, log=log, report=report, stop=stop
    )
    # Before the poll time: should this fail, the jobs stay due and their events are read
    # again (each is stored once whatever happens).
    services.finetuning_record_provider_events_of_batch(items=batch.events_read)
    services.finetuning_record_checkpoints_of_batch(items=batch.checkpoints_read)
    # After the events, so the file completes what they stored rather than the reverse.
    for followed in batch.finished_with_results:
        _record_result_files(followed, provider=provider, log=log, report=report)
    services.finetuning_record_polled(finetuning_ids=batch.polled, worker_id=worker_id)
    services.finetuning_release(finetuning_ids=batch.released, worker_id=worker_id)
    report.refreshed += len(batch.polled)
    return report


@dataclass
class _Batch:
    """What following a batch found, to be written for the whole batch at once."""

    polled: list = field(default_factory=list)
    released: list = field(default_factory=list)
    events_read: list = field(default_factory=list)
    checkpoints_read: list = field(default_factory=list)
    finished_with_results: list = field(default_factory=list)


def _follow_batch(jobs, listed, *, provider, worker_id, log, report, stop) -> _Batch:
    """Ask the provider about each job (a few threads), writing each job's own news."""
    halt = threading.Event()  # set on SIGTERM or a 429: calls not yet made are not made
    budget = Budget(settings.FINETUNING_WORKER_EVENT_PAGES_PER_PASS)

    def follow(job: Finetuning) -> _Followed:
        if halt.is_set() or (stop is not None and stop.is_set()):
            return _Followed(job=job, skipped=True)
        return _follow(job, listed.get(job.finetuning_job_id), provider, budget, halt)

    batch = _Batch()
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
                    events_read=batch.events_read,
                )
                if done and followed.checkpoints is not None:
                    batch.checkpoints_read.append((followed.job, followed.checkpoints))
            except Exception:  # a bug with one job must not cost the others their poll
                logger.exception("Refreshing %s failed unexpectedly", followed.job.pk)
                done = False
            (batch.polled if done else batch.released).append(followed.job.pk)
            if done and followed.succeeded_now and followed.remote.result_files:
                batch.finished_with_results.append(followed)
    return batch


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
    budget: Budget,
    halt: threading.Event,
) -> _Followed:
    followed = _Followed(job=job, remote=remote)
    if remote is None:
        followed.calls += 1
        followed.remote, followed.error = _ask(
            halt, lambda: provider.retrieve_job(job.finetuning_job_id)
        )
        if followed.error is not None:
            return followed
    status = followed.remote.status
    cursor = job.provider_events_cursor or {}
    if status == "running" or status != job.provider_status or cursor.get("gap_after"):
        fetched, followed.events_error = _ask(
            halt,
            lambda: fetch_new_events(
                provider=provider, job_id=job.finetuning_job_id, cursor=cursor, budget=budget
            ),
        )
        if fetched is not None:
            followed.events, followed.cursor, pages = fetched
            followed.calls += pages
    if _checkpoints_may_have_changed(followed) and not halt.is_set():
        followed.calls += 1
        followed.checkpoints, followed.checkpoints_error = _ask(
            halt, lambda: provider.list_job_checkpoints(job.finetuning_job_id)
        )
    return followed


def _ask[T](halt: threading.Event, call: Callable[[], T]) -> tuple[T | None, ProviderError | None]:
    """One provider call for a job: its answer, or the error that stops only this job.

    A 429 also sets ``halt``: the calls of this pass not yet made are not made.
    """
    try:
        return call(), None
    except ProviderError as exc:
        if exc.rate_limited:
            halt.set()
        return None, exc


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
        if pause_if_rate_limited(exc, provider=provider, log=log, report=report):
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
        pause_if_rate_limited(followed.events_error, provider=provider, log=log, report=report)
        log(f"{job.pk}: provider events unavailable ({followed.events_error.message})")
    elif followed.events or followed.cursor is not None:
        events_read.append((job, followed.events, followed.cursor))
        report.events += len(followed.events)
    followed.succeeded_now = moved and remote.mapped_status == FinetuningStatus.SUCCEEDED
    if followed.checkpoints_error is not None:
        pause_if_rate_limited(followed.checkpoints_error, provider=provider, log=log, report=report)
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
            pause_if_rate_limited(exc, provider=provider, log=log, report=report)
            log(f"{job.pk}: result file {file_id} unavailable ({exc.message})")
            continue
        steps = services.finetuning_record_result_file(finetuning=job, content=content)
        log(f"{job.pk}: result file {file_id} held {steps} steps")
