"""``python manage.py finetuning_worker``: the process that makes jobs actually run.

It loops over ``worker.run_once()``: passes follow each other at once while batches come
back full (there is more to do), and it sleeps between passes once it has caught up;
``--once`` does one pass and exits (cron, tests). SIGTERM or SIGINT stops it within
seconds: the pass ends at the next job (a call in flight is finished and recorded) and
gives back the leases it did not use, so another worker takes those jobs at once (and if
a worker is killed anyway, its leases expire and another worker finishes its jobs).
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from finetunings import worker

logger = logging.getLogger(__name__)


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
        sleep = settings.FINETUNING_WORKER_SLEEP_SECONDS if sleep is None else sleep
        worker_id = worker.new_worker_id()
        stop = threading.Event()
        if not once:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"worker {worker_id} started")
        while True:
            busy = False
            try:
                report = worker.run_once(worker_id=worker_id, log=self.stdout.write, stop=stop)
                busy = report.busy
            except Exception as exc:
                if once:
                    raise CommandError(f"The pass failed: {exc!r}") from exc
                # One bad pass (a database restart, a provider answering nonsense) must not
                # end the worker: every step can be resumed, so the next pass carries on.
                logger.exception("A worker pass failed")
                self.stderr.write(f"pass failed: {exc!r}; the next pass starts in {sleep:g} s")
            if once or stop.is_set() or (not busy and stop.wait(sleep)):
                break
            # A long-running process must not keep a broken or stale connection for ever.
            close_old_connections()
        self.stdout.write(f"worker {worker_id} stopped")
