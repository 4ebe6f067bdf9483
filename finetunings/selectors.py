"""Reads of the fine-tuning domain, shaped for the API and the admin.

Querysets here carry what their callers need in a constant number of queries.
"""

from django.db.models import OuterRef, QuerySet, Subquery

from finetunings.evaluation_selectors import with_latest_evaluation
from finetunings.models import (
    ACTIVE_STATUSES,
    APIKey,
    DatabaseConnection,
    Finetuning,
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningMetric,
    FinetuningStatus,
    GoldenRecord,
)
from finetunings.services import hash_api_key


def database_connection_list() -> QuerySet[DatabaseConnection]:
    return DatabaseConnection.objects.alive()


def golden_record_list() -> QuerySet[GoldenRecord]:
    return GoldenRecord.objects.filter(db_connection__deleted_at__isnull=True)


def finetuning_list() -> QuerySet[Finetuning]:
    # Everything the API shows of a job lives in its own row (golden record ids included)
    # or comes with it (its progress, from its latest metric through the (job, step)
    # index), so a page of jobs is one query whatever its size.
    latest = FinetuningMetric.objects.filter(finetuning=OuterRef("pk")).order_by("-step")
    jobs = Finetuning.objects.annotate(
        progress_step=Subquery(latest.values("step")[:1]),
        progress_total_steps=Subquery(latest.values("total_steps")[:1]),
    )
    return with_latest_evaluation(jobs)


def finetuning_progress(finetuning: Finetuning) -> dict | None:
    """How far the job's training is: ``step``, ``total_steps``, ``percent`` (or None).

    Read from the annotations of ``finetuning_list`` when the job came from it, else from
    its latest metric (one query).
    """
    if hasattr(finetuning, "progress_step"):
        step, total = finetuning.progress_step, finetuning.progress_total_steps
    else:
        latest = (
            FinetuningMetric.objects.filter(finetuning=finetuning)
            .order_by("-step")
            .values_list("step", "total_steps")
            .first()
        )
        step, total = latest if latest else (None, None)
    if step is None:
        return None
    if total:
        done = finetuning.status == FinetuningStatus.SUCCEEDED
        percent = 100.0 if done else min(round(100 * step / total, 1), 100.0)
    else:
        percent = None
    return {"step": step, "total_steps": total, "percent": percent}


def finetuning_checkpoint_list(*, finetuning: Finetuning) -> QuerySet[FinetuningCheckpoint]:
    return FinetuningCheckpoint.objects.filter(finetuning=finetuning).order_by("step")


def finetuning_metric_list(*, finetuning: Finetuning) -> QuerySet[FinetuningMetric]:
    return FinetuningMetric.objects.filter(finetuning=finetuning).order_by("step")


def finetuning_metrics_downsampled(*, finetuning: Finetuning, points: int) -> list:
    """At most ``points`` steps spread evenly over the series, its first and last included.

    One query: the whole series is read once (10,000 steps of figures is little) and the
    points picked from it.
    """
    series = list(finetuning_metric_list(finetuning=finetuning))
    if len(series) <= points:
        return series
    last = len(series) - 1
    picked = sorted({round(index * last / (points - 1)) for index in range(points)})
    return [series[index] for index in picked]


# What the admin's list of jobs never shows, yet weighs most: up to 100,000 golden record
# ids per job. (The API shows them, so its list loads them.)
FINETUNING_LIST_DEFERRED = (
    "golden_records",
    "training_summary",
    "validation_golden_records",
    "validation_summary",
)


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
