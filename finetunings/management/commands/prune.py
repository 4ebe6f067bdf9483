"""``manage.py prune``: delete what would otherwise grow without bound (see maintenance)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from finetunings import maintenance


class Command(BaseCommand):
    help = (
        "Delete provider and worker events of jobs finished long ago, old webhook records, "
        "training and validation files no job refers to, and heartbeats of workers long gone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=settings.FINETUNING_RETENTION_DAYS,
            help="Keep the events of jobs finished within this many days "
            "(default: FINETUNING_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--webhook-days",
            type=int,
            default=settings.FINETUNING_WEBHOOK_RETENTION_DAYS,
            help="Keep webhook records this many days (default: "
            "FINETUNING_WEBHOOK_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, days, webhook_days, dry_run, **options):
        report = maintenance.data_prune(event_days=days, webhook_days=webhook_days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {report.events} event(s) of jobs finished more than {days} day(s) ago, "
            f"{report.webhook_records} webhook record(s) older than {webhook_days} day(s), "
            f"{len(report.orphaned_files)} orphaned training or validation file(s), "
            f"{report.heartbeats} old worker heartbeat(s)."
        )
        for name in report.orphaned_files:
            self.stdout.write(f"  {name}")
