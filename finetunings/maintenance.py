"""Services that keep the data in shape over time: retention and key rotation.

Used by ``manage.py prune`` and ``manage.py rotate_encryption_key``; each can run while the
service runs (small batches, conditional updates) and each has a dry run.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from finetunings import crypto
from finetunings.models import (
    TERMINAL_STATUSES,
    DatabaseConnection,
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    WorkerHeartbeat,
)

logger = logging.getLogger(__name__)

BATCH = 2000
TRAINING_FILES_DIR = "training-files"
VALIDATION_FILES_DIR = "validation-files"  # the validation split's files, kept the same way
WEBHOOK_ACTOR = "provider webhook"
# The machine's own record of what happened: provider and worker events, many per job.
# Who created, changed or cancelled a job (and its status changes) is kept for ever.
PRUNABLE_KINDS = (FinetuningEventKind.PROVIDER_EVENT, FinetuningEventKind.WORKER)
# A worker saves a training file a moment before it writes the file's name on the job.
ORPHAN_FILE_GRACE = timedelta(days=1)
STALE_HEARTBEAT_AGE = timedelta(days=1)


@dataclass
class PruneReport:
    events: int = 0
    webhook_records: int = 0
    training_files: list[str] = field(default_factory=list)
    heartbeats: int = 0


def _delete_in_batches(queryset, *, dry_run: bool) -> int:
    if dry_run:
        return queryset.count()
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        deleted, _ = FinetuningEvent.objects.filter(pk__in=ids).delete()
        total += deleted


def data_prune(*, event_days: int, webhook_days: int, dry_run: bool) -> PruneReport:
    """Delete what only grows: provider and worker events of jobs finished more than
    ``event_days`` ago, webhook records older than ``webhook_days`` (they only stop a
    redelivered webhook from being processed twice), training files no job refers to any
    more, and heartbeats of workers long gone."""
    now = timezone.now()
    report = PruneReport()
    event_cutoff = now - timedelta(days=event_days)
    finished_long_ago = Finetuning.objects.filter(status__in=TERMINAL_STATUSES).filter(
        Q(finished_at__lt=event_cutoff)
        | Q(finished_at__isnull=True, cancelled_at__lt=event_cutoff)
        | Q(finished_at__isnull=True, cancelled_at__isnull=True, updated_at__lt=event_cutoff)
    )
    old_events = FinetuningEvent.objects.filter(
        finetuning__in=finished_long_ago.values("pk"),
        kind__in=PRUNABLE_KINDS,
        created_at__lt=event_cutoff,
    )
    report.events = _delete_in_batches(old_events, dry_run=dry_run)

    webhook_records = FinetuningEvent.objects.filter(
        actor=WEBHOOK_ACTOR,
        kind=FinetuningEventKind.PROVIDER_EVENT,
        created_at__lt=now - timedelta(days=webhook_days),
    )
    report.webhook_records = _delete_in_batches(webhook_records, dry_run=dry_run)

    report.training_files = _orphaned_training_files(now=now) + _orphaned_training_files(
        now=now, directory=VALIDATION_FILES_DIR, column="validation_file"
    )
    if not dry_run:
        for name in report.training_files:
            default_storage.delete(name)

    heartbeats = WorkerHeartbeat.objects.filter(seen_at__lt=now - STALE_HEARTBEAT_AGE)
    report.heartbeats = heartbeats.count() if dry_run else heartbeats.delete()[0]
    return report


def _orphaned_training_files(
    *, now, directory: str = TRAINING_FILES_DIR, column: str = "training_file"
) -> list[str]:
    try:
        _, names = default_storage.listdir(directory)
    except FileNotFoundError:
        return []
    orphans = []
    for start in range(0, len(names), BATCH):
        paths = [f"{directory}/{name}" for name in names[start : start + BATCH]]
        referenced = set(
            Finetuning.objects.filter(**{f"{column}__in": paths}).values_list(column, flat=True)
        )
        for path in paths:
            if path in referenced:
                continue
            if now - default_storage.get_modified_time(path) < ORPHAN_FILE_GRACE:
                continue
            orphans.append(path)
    return orphans


def encryption_key_rotate(*, dry_run: bool) -> tuple[int, int]:
    """Re-encrypt every stored secret with the newest key; returns (rotated, already current).

    Each row is written on condition that its token has not changed meanwhile, so an edit
    made during the rotation is never overwritten (it is encrypted with the newest key).
    """
    rotated = current = 0
    tokens = (
        DatabaseConnection.objects.exclude(connection_uri_encrypted="")
        .order_by("pk")
        .values_list("pk", "connection_uri_encrypted")
    )
    for pk, token in tokens.iterator(chunk_size=BATCH):
        if crypto.is_current(token):
            current += 1
            continue
        new_token = crypto.rotate(token)
        if not dry_run:
            DatabaseConnection.objects.filter(pk=pk, connection_uri_encrypted=token).update(
                connection_uri_encrypted=new_token
            )
        rotated += 1
    return rotated, current
