"""Reads of the fine-tuning domain, shaped for the API and the admin.

Querysets here carry what their callers need in a constant number of queries.
"""

from django.db import connection as db_connection
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from finetunings.models import (
    APIKey,
    DatabaseConnection,
    Evaluation,
    EvaluationAnswer,
    EvaluationRecord,
    EvaluationStatus,
    Finetuning,
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningMetric,
    FinetuningStatus,
    GoldenRecord,
    hash_api_key,
)
from finetunings.models.base import StoredJSONField
from finetunings.prepared import PreparedRead


def database_connection_list() -> QuerySet[DatabaseConnection]:
    return DatabaseConnection.objects.alive()


def golden_record_list() -> QuerySet[GoldenRecord]:
    return GoldenRecord.objects.filter(db_connection__deleted_at__isnull=True)


def finetuning_list() -> QuerySet[Finetuning]:
    # Everything the API shows of a job lives in its own row (golden record ids included)
    # or comes with it (its progress and latest evaluation), so a page of jobs is one query
    # whatever its size.
    return with_latest_evaluation(finetuning_with_progress())


def finetuning_with_progress() -> QuerySet[Finetuning]:
    """Jobs with their progress (``progress_step``, ``progress_total_steps``), from their
    latest metric through the (job, step) index, in the same query.

    The admin's jobs (its list shows progress and no evaluation; only a job's own page reads
    the latest evaluation, in one query of its own) and a cancel's claim.
    """
    latest = FinetuningMetric.objects.filter(finetuning=OuterRef("pk")).order_by("-step")
    return Finetuning.objects.annotate(
        progress_step=Subquery(latest.values("step")[:1]),
        progress_total_steps=Subquery(latest.values("total_steps")[:1]),
    )


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
    return progress_of(finetuning.status, step, total)


def progress_of(job_status: str, step: int | None, total: int | None) -> dict | None:
    """``finetuning_progress`` from the job's status and its latest step's figures."""
    if step is None:
        return None
    if total:
        done = job_status == FinetuningStatus.SUCCEEDED
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


# Read on every API request: compiled once (see prepared.py).
_API_KEY_FIELDS = ("id", "name", "prefix", "last_used_at")
# ``from_db`` takes the values in the model's field order, whatever the tuple's: that order,
# worked out once.
_API_KEY_ATTNAMES = [f.attname for f in APIKey._meta.concrete_fields if f.name in _API_KEY_FIELDS]
_LIVE_API_KEY = PreparedRead(
    lambda key_hash: (
        APIKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True)
        .order_by("pk")
        .values(*_API_KEY_FIELDS)[:1]
    ),
    "key_hash",
)


def api_key_for(raw_key: str) -> APIKey | None:
    """The live API key whose hash matches ``raw_key``, or None."""
    found = _LIVE_API_KEY.first(key_hash=hash_api_key(raw_key))
    if found is None:
        return None
    # As ``.only(*_API_KEY_FIELDS)`` would give it: the other fields load when read.
    return APIKey.from_db(
        db_connection.alias, _API_KEY_ATTNAMES, [found[name] for name in _API_KEY_ATTNAMES]
    )


def finetuning_active_of_connections(*, connection_ids) -> QuerySet[Finetuning]:
    """Active jobs of these connections: what stops the connections from being deleted."""
    return (
        Finetuning.objects.active()
        .filter(db_connection_id__in=connection_ids)
        .order_by("-created_at", "-id")
    )


def finetuning_get(*, finetuning_id: str) -> Finetuning:
    return Finetuning.objects.get(pk=finetuning_id)


def finetuning_by_provider_job_id(provider_job_id: str) -> Finetuning | None:
    """The job that the provider knows as ``provider_job_id`` (a webhook names it so)."""
    return Finetuning.objects.filter(finetuning_job_id=provider_job_id).first()


def finetuning_webhook_seen(*, finetuning: Finetuning, event_id: str) -> bool:
    return FinetuningEvent.objects.filter(
        finetuning=finetuning, provider_event_id=event_id
    ).exists()


def finetuning_orphaned_creates(*, provider: str, started_before, limit: int) -> list[Finetuning]:
    """Cancelled jobs whose (since dead) worker may have created a provider job, oldest first."""
    jobs = Finetuning.objects.orphaned_creates(provider=provider, started_before=started_before)
    return list(jobs.order_by("provider_create_started_at")[:limit])


def finetuning_still_running_at_provider(*, provider: str, limit: int) -> list[Finetuning]:
    """Finished jobs recorded as still running at the provider (a cancel there failed)."""
    # No ORDER BY: sorting by the default (creation) would walk the whole history's index
    # instead of this sweep's partial index.
    return list(Finetuning.objects.still_running_at_provider(provider=provider).order_by()[:limit])


def api_key_exists(*, raw_key: str) -> bool:
    """Whether a live API key has this raw key (the development credentials keep one)."""
    return APIKey.objects.filter(key_hash=hash_api_key(raw_key), revoked_at=None).exists()


# The job's stored ids expanded in the database, each joined to its record (NULLs when the
# record was deleted), in the stored order: one query, streamed, whatever the job's size.
_JOB_RECORDS_SQL = {
    "postgresql": (
        "SELECT ids.id, g.db_connection_id, g.question, g.sql FROM {job} f "
        "CROSS JOIN LATERAL jsonb_array_elements_text(f.{ids}) "
        "WITH ORDINALITY AS ids(id, position) "
        "LEFT JOIN {record} g ON g.id = ids.id WHERE f.id = %s ORDER BY ids.position"
    ),
    "sqlite": (
        "SELECT ids.value, g.db_connection_id, g.question, g.sql FROM {job} f "
        "CROSS JOIN json_each(f.{ids}) AS ids "
        "LEFT JOIN {record} g ON g.id = ids.value WHERE f.id = %s ORDER BY ids.key"
    ),
}
JOB_RECORDS_FETCH_SIZE = 2000


# The job's two lists of golden record ids (the interpolated column names come from here only).
JOB_RECORD_LISTS = ("golden_records", "validation_golden_records")


def golden_record_rows_of_job(finetuning_id: str, *, ids: str = "golden_records"):
    """(id, connection id, question, sql) for each id in the job's list ``ids``, in its order.

    Plain tuples, not model instances; a deleted record comes as (id, None, None, None).
    On PostgreSQL the rows come through a server-side cursor, a batch at a time.
    """
    if ids not in JOB_RECORD_LISTS:
        raise ValueError(f"not a list of golden record ids: {ids!r}")
    sql = _JOB_RECORDS_SQL[db_connection.vendor].format(
        ids=db_connection.ops.quote_name(ids),
        job=db_connection.ops.quote_name(Finetuning._meta.db_table),
        record=db_connection.ops.quote_name(GoldenRecord._meta.db_table),
    )
    with db_connection.chunked_cursor() as cursor:
        cursor.execute(sql, [finetuning_id])
        while rows := cursor.fetchmany(JOB_RECORDS_FETCH_SIZE):
            yield from rows


# --- Evaluations ---------------------------------------------------------------------------


def evaluation_list(*, finetuning) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(finetuning=finetuning)


def evaluation_records(*, evaluation: Evaluation) -> list[EvaluationRecord]:
    """The evaluation's records in order, each with ``answers_by_model`` and
    ``ordered_answers`` (two queries)."""
    answers = Prefetch("answers", queryset=EvaluationAnswer.objects.order_by("id"))
    records = list(
        EvaluationRecord.objects.filter(evaluation=evaluation)
        .order_by("position")
        .prefetch_related(answers)
    )
    models = evaluation.model_ids
    for record in records:
        record.answers_by_model = {answer.model: answer for answer in record.answers.all()}
        # In the evaluation's order of models, whatever order the answers arrived in.
        record.ordered_answers = [
            record.answers_by_model[model] for model in models if model in record.answers_by_model
        ]
    return records


def evaluation_answered_pairs(*, evaluation: Evaluation) -> set[tuple[int, str]]:
    """(record id, model) of every answer stored: what a resumed run must not ask again."""
    return set(
        EvaluationAnswer.objects.filter(evaluation=evaluation).values_list("record_id", "model")
    )


def evaluation_unscored_answers(*, evaluation: Evaluation) -> QuerySet[EvaluationAnswer]:
    return (
        EvaluationAnswer.objects.filter(evaluation=evaluation, scored_at__isnull=True)
        .select_related("record")
        .order_by("record__position", "id")
    )


def _latest_summary():
    latest = Evaluation.objects.filter(
        finetuning=OuterRef("pk"), status=EvaluationStatus.SUCCEEDED
    ).order_by("-created_at", "-id")
    return Subquery(latest.values("summary")[:1], output_field=StoredJSONField())


def with_latest_evaluation(queryset: QuerySet) -> QuerySet:
    """Jobs annotated with their latest finished evaluation's summary (in the same query)."""
    return queryset.annotate(latest_evaluation_summary=_latest_summary())


def finetuning_latest_evaluation(finetuning) -> dict | None:
    """The summary of the job's latest succeeded evaluation, or None.

    From the annotation of ``with_latest_evaluation`` when the job came with it, else one
    query.
    """
    if hasattr(finetuning, "latest_evaluation_summary"):
        return finetuning.latest_evaluation_summary
    return finetuning_latest_evaluation_of(finetuning.pk)


def finetuning_latest_evaluation_of(finetuning_id: str) -> dict | None:
    return (
        Evaluation.objects.filter(finetuning_id=finetuning_id, status=EvaluationStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values_list("summary", flat=True)
        .first()
    )
