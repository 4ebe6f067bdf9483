"""``run_once``: one pass of the worker (submit, refresh one batch, clean up, evaluate)."""

import logging
import threading
import time

from django.conf import settings

from finetunings import notifications, services
from finetunings.providers import Provider, get_provider
from finetunings.worker.base import Log, PassReport, new_worker_id
from finetunings.worker.cleanup import stop_orphaned_provider_jobs
from finetunings.worker.evaluations import run_evaluations
from finetunings.worker.refresh import refresh_active_jobs
from finetunings.worker.submit import submit_waiting_jobs

logger = logging.getLogger(__name__)


def _configuration_problem(provider: Provider) -> str | None:
    check = getattr(provider, "configuration_problem", None)
    return check() if check is not None else None


# When this process last swept for orphaned provider jobs, and last looked for webhook
# deliveries to make (see run_once).
_last_sweep = {"at": float("-inf")}
_last_notifications = {"at": float("-inf")}
# When this process last looked for an evaluation to work on, and whether it found one.
_last_evaluations = {"at": float("-inf"), "found": False}


def _due(last: dict, *, every: float, report: PassReport) -> bool:
    """Whether a housekeeping step runs after this pass, and if so note when it ran.

    It runs when the worker has caught up (it is about to sleep, so its queries cost no
    job a delay), and at least every ``every`` seconds while batches keep coming full: a
    backlog does not pay for it once per batch.
    """
    now = time.monotonic()
    if report.busy and now - last["at"] < every:
        return False
    last["at"] = now
    return True


def run_once(
    *, worker_id: str | None = None, log: Log | None = None, stop: threading.Event | None = None
) -> PassReport:
    """One pass: submit what waits, refresh one batch of what runs, stop what should not run.

    ``stop`` set (SIGTERM) ends the pass at the next job, with its unused leases given back.
    """
    worker_id = worker_id or new_worker_id()
    log = log or logger.info
    report = PassReport()
    _pass(worker_id=worker_id, log=log, report=report, stop=stop)
    if stop is None or not stop.is_set():
        _evaluate(worker_id=worker_id, log=log, report=report, stop=stop)
        _notify(log=log, report=report)
    return report


def _pass(*, worker_id: str, log: Log, report: PassReport, stop) -> None:
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
        return
    submit_waiting_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    if stop is not None and stop.is_set():
        return
    refresh_active_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    stopping = stop is not None and stop.is_set()
    every = settings.FINETUNING_WORKER_POLL_SECONDS
    if not stopping and not report.rate_limited and _due(_last_sweep, every=every, report=report):
        stop_orphaned_provider_jobs(provider=provider, log=log)


def _evaluate(*, worker_id: str, log: Log, report: PassReport, stop) -> None:
    """After the jobs, one evaluation for one pass's budget of model calls.

    Also when the provider has no key: sandbox jobs' evaluations run, the others wait saying
    why. While the last look found one, every pass works on; otherwise a busy worker looks
    again at most every ``FINETUNING_WORKER_EVALUATION_CHECK_SECONDS``, so a backlog of jobs
    pays nothing for evaluations that do not exist.
    """
    every = settings.FINETUNING_WORKER_EVALUATION_CHECK_SECONDS
    if _last_evaluations["found"] or _due(_last_evaluations, every=every, report=report):
        found = run_evaluations(worker_id=worker_id, log=log, stop=stop)
        _last_evaluations["found"] = found is not None


def _notify(*, log: Log, report: PassReport) -> None:
    """Webhook endpoints hear of the jobs that ended; never breaks the pass."""
    every = settings.FINETUNING_WORKER_WEBHOOK_CHECK_SECONDS
    if _due(_last_notifications, every=every, report=report):
        notifications.notifications_run_once(log=log)
