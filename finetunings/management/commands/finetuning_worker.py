"""``python manage.py finetuning_worker``: the process that makes jobs actually run.

It loops over ``worker.run_once()``: passes follow each other at once while batches come
back full (there is more to do), and it sleeps between passes once it has caught up;
``--once`` does one pass and exits (cron, tests). SIGTERM or SIGINT stops it within
seconds: the pass ends at the next job (a call in flight is finished and recorded) and
gives back the leases it did not use, so another worker takes those jobs at once (and if
a worker is killed anyway, its leases expire and another worker finishes its jobs).

Every line goes through logging (logger ``finetunings.worker``), so it carries the time,
the level and the worker's id, in JSON in production. After each pass the worker writes
its heartbeat (``/readyz`` needs a recent one) and records the pass's duration.
"""

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from finetunings import services, worker
from finetunings.ops import context, metrics

logger = logging.getLogger("finetunings.worker")


def after_pass(*, worker_id: str, seconds: float, failed: bool) -> None:
    """The once-per-pass hook: heartbeat and pass duration. Never ends the worker."""
    metrics.WORKER_PASS_SECONDS.labels(outcome="failed" if failed else "ok").observe(seconds)
    try:
        services.worker_heartbeat_record(worker_id=worker_id)
    except Exception:
        logger.exception("Could not write the worker's heartbeat")


class Command(BaseCommand):
    help = "Build training files, submit fine-tuning jobs and follow them at the provider."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Do one pass, then exit.")
        parser.add_argument(
            "--sleep",
            type=float,
            default=None,
            help="Seconds between passes (default: FINETUNING_WORKER_SLEEP_SECONDS).",
        )

    def handle(self, *args, once=False, sleep=None, **options):
        worker_id = worker.new_worker_id()
        with context.bound(context.worker_id, worker_id):
            self.loop(worker_id=worker_id, once=once, sleep=sleep)

    def loop(self, *, worker_id: str, once: bool, sleep: float | None):
        sleep = settings.FINETUNING_WORKER_SLEEP_SECONDS if sleep is None else sleep
        stop = threading.Event()
        if not once:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        logger.info("worker %s started", worker_id)
        services.worker_heartbeat_record(worker_id=worker_id)
        try:
            while True:
                started = time.monotonic()
                failed = busy = False
                try:
                    report = worker.run_once(worker_id=worker_id, log=logger.info, stop=stop)
                    busy = report.busy
                except Exception as exc:
                    failed = True
                    if once:
                        raise CommandError(f"The pass failed: {exc!r}") from exc
                    # One bad pass (a database restart, a provider answering nonsense) must
                    # not end the worker: every step can be resumed, so the next pass
                    # carries on.
                    logger.exception("pass failed; the next pass starts in %g s", sleep)
                finally:
                    after_pass(
                        worker_id=worker_id, seconds=time.monotonic() - started, failed=failed
                    )
                if once or stop.is_set() or (not busy and stop.wait(sleep)):
                    break
                # A long-running process must not keep a broken or stale connection for ever.
                close_old_connections()
        finally:
            if not once:
                # A worker that stops on purpose stops counting for /readyz at once.
                try:
                    services.worker_heartbeat_remove(worker_id=worker_id)
                except Exception:
                    logger.exception("Could not remove the worker's heartbeat")
        logger.info("worker %s stopped", worker_id)
