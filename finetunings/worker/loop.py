"""``run_once``: one pass of the worker (submit, refresh one batch, clean up)."""

import logging
import threading
import time

from django.conf import settings

from finetunings import notifications, services
from finetunings.providers import Provider, get_provider
from finetunings.worker.base import Log, PassReport, new_worker_id
from finetunings.worker.cleanup import stop_orphaned_provider_jobs
from finetunings.worker.refresh import refresh_active_jobs
from finetunings.worker.submit import submit_waiting_jobs

logger = logging.getLogger(__name__)


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
        return report
    submit_waiting_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    if stop is not None and stop.is_set():
        return report
    refresh_active_jobs(provider=provider, worker_id=worker_id, log=log, report=report, stop=stop)
    # The clean-up runs when the refresh has caught up, or at least once per poll interval
    # when it has not: a busy worker does not spend two queries per batch on it.
    now = time.monotonic()
    sweep_due = now - _last_sweep["at"] >= settings.FINETUNING_WORKER_POLL_SECONDS
    stopping = stop is not None and stop.is_set()
    if (not report.busy or sweep_due) and not stopping and not report.rate_limited:
        _last_sweep["at"] = now
        stop_orphaned_provider_jobs(provider=provider, log=log)
    return report
