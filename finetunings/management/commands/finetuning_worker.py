"""``python manage.py finetuning_worker``: the process that makes jobs actually run.

It loops over ``worker.run_once()`` and sleeps between passes; ``--once`` does one pass and
exits (cron, tests). SIGTERM or SIGINT ends the loop after the current pass, so a deploy
never cuts a submission in half (and if one is cut anyway, leases let another worker
finish it).
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from finetunings import worker


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
            worker.run_once(worker_id=worker_id, log=self.stdout.write)
            if once or stop.wait(sleep):
                break
            # A long-running process must not keep a broken or stale connection for ever.
            close_old_connections()
        self.stdout.write(f"worker {worker_id} stopped")
