"""Reads of the fine-tuning domain, shaped for the API and the admin.

Querysets here carry what their callers need in a constant number of queries.
"""

from django.db.models import QuerySet

from finetunings.models import (
    ACTIVE_STATUSES,
    APIKey,
    DatabaseConnection,
    Finetuning,
    FinetuningEvent,
    GoldenRecord,
)
from finetunings.services import hash_api_key


def database_connection_list() -> QuerySet[DatabaseConnection]:
    return DatabaseConnection.objects.alive()


def golden_record_list() -> QuerySet[GoldenRecord]:
    return GoldenRecord.objects.filter(db_connection__deleted_at__isnull=True)


def finetuning_list() -> QuerySet[Finetuning]:
    # Everything the API shows of a job lives in its own row (golden record ids included),
    # so a page of jobs is one query whatever its size.
    return Finetuning.objects.all()


# What the admin's list of jobs never shows, yet weighs most: up to 100,000 golden record
# ids per job. (The API shows them, so its list loads them.)
FINETUNING_LIST_DEFERRED = ("golden_records", "training_summary")


def finetuning_event_list(*, finetuning: Finetuning) -> QuerySet[FinetuningEvent]:
    return FinetuningEvent.objects.filter(finetuning=finetuning)


def finetuning_timeline_latest(
    *, finetuning: Finetuning, limit: int
) -> tuple[list[FinetuningEvent], int]:
    """The job's latest ``limit`` events, newest first, and how many events it has in all.

    A training run can report thousands of events; the count is only run when they do not
    all fit in ``limit``.
    """
    events = finetuning_event_list(finetuning=finetuning)
    latest = list(events.order_by("-created_at", "-provider_sequence", "-id")[:limit])
    return latest, len(latest) if len(latest) < limit else events.count()


def api_key_for(raw_key: str) -> APIKey | None:
    """The live API key whose hash matches ``raw_key``, or None."""
    return (
        APIKey.objects.filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .only("id", "name", "prefix", "last_used_at")
        .first()
    )


def finetuning_active_of_connections(*, connection_ids) -> QuerySet[Finetuning]:
    """Active jobs of these connections: what stops the connections from being deleted."""
    return Finetuning.objects.filter(
        db_connection_id__in=connection_ids, status__in=ACTIVE_STATUSES
    ).order_by("-created_at", "-id")
