"""Every write of evaluations: create, cancel, and the worker's claim, answers and scores.

As with jobs, the worker holds an evaluation by a lease and writes each result with a
conditional update that says whether it still holds it: a cancelled evaluation, or one a
second worker took over after this one's lease ran out, takes no more writes from it.
An answer is stored once per (record, model): a resumed run never asks a model again for
a record it has answered.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from finetunings import errors
from finetunings.evaluation import report
from finetunings.models import (
    EVALUATION_FINISHED_STATUSES,
    Evaluation,
    EvaluationAnswer,
    EvaluationRecord,
    EvaluationStatus,
    FinetuningCheckpoint,
    FinetuningStatus,
    GoldenRecord,
    ModelRole,
)

# Bounded so that one evaluation's answers fit one API response and one admin page.
EVALUATION_RECORDS_MAX = 1000
EVALUATION_MODELS_MAX = 8

CANCELLED_MESSAGE = "Cancelled by {actor}."
RUNNING_MESSAGE = "Asking the models and scoring their answers."


# --- Create -----------------------------------------------------------------------------


def evaluation_create(
    *, finetuning, actor: str, golden_records: list[str] | None = None, models=None
) -> Evaluation:
    """Queue an evaluation of ``finetuning``'s models on golden records (see the module).

    ``golden_records`` defaults to the job's validation records; ``models`` to the
    fine-tuned model and its base model, and may name the job's checkpoints' models.
    """
    if finetuning.status != FinetuningStatus.SUCCEEDED or not finetuning.model_id:
        raise errors.FinetuningNotSucceeded(finetuning.status)
    entries = _model_entries(finetuning, models)
    records, source = _records_to_evaluate(finetuning, golden_records)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            finetuning=finetuning,
            evaluated_models=entries,
            records_source=source,
            record_count=len(records),
            created_by=actor,
            status_message="Waiting for a worker.",
        )
        EvaluationRecord.objects.bulk_create(
            EvaluationRecord(
                evaluation=evaluation,
                position=position,
                golden_record_id=record.pk,
                question=record.question,
                sql=record.sql,
            )
            for position, record in enumerate(records)
        )
    return evaluation


def _model_entries(finetuning, models) -> list[dict]:
    known = {
        finetuning.model_id: {"model": finetuning.model_id, "role": ModelRole.FINE_TUNED},
        finetuning.model_name: {"model": finetuning.model_name, "role": ModelRole.BASE},
    }
    for model_id, step in FinetuningCheckpoint.objects.filter(finetuning=finetuning).values_list(
        "model_id", "step"
    ):
        known.setdefault(model_id, {"model": model_id, "role": ModelRole.CHECKPOINT, "step": step})
    if models is None:
        return [known[finetuning.model_id], known[finetuning.model_name]]
    chosen = list(dict.fromkeys(models))
    unknown = [model for model in chosen if model not in known]
    problems = []
    if not chosen:
        problems.append("Name at least one model (or leave models out for the default).")
    if unknown:
        problems.append(
            f"Not a model of this job: {', '.join(repr(m) for m in unknown[:5])}. Use the "
            f"fine-tuned model, its base model or one of the job's checkpoint models."
        )
    if len(chosen) > EVALUATION_MODELS_MAX:
        problems.append(f"At most {EVALUATION_MODELS_MAX} models per evaluation.")
    if problems:
        raise errors.ValidationFailed({"models": problems})
    return [dict(known[model]) for model in chosen]


def _records_to_evaluate(finetuning, golden_records) -> tuple[list[GoldenRecord], str]:
    if golden_records is None:
        ids = list(getattr(finetuning, "validation_golden_records", None) or [])
        if not ids:
            raise errors.NoValidationRecords()
        # Validation records deleted since the job was created cannot be asked any more.
        found = _connection_records(finetuning, ids)
        if not found:
            raise errors.NoValidationRecords()
        return [found[pk] for pk in ids if pk in found][:EVALUATION_RECORDS_MAX], "validation"
    ids = list(dict.fromkeys(golden_records))
    problems = []
    if not ids:
        problems.append("Name at least one golden record (or leave it out for the default).")
    if len(ids) > EVALUATION_RECORDS_MAX:
        problems.append(f"At most {EVALUATION_RECORDS_MAX} golden records per evaluation.")
    found = _connection_records(finetuning, ids) if ids and not problems else {}
    unknown = [pk for pk in ids if pk not in found]
    if unknown and not problems:
        problems.append(
            f"Unknown golden record id(s) for this job's connection: "
            f"{', '.join(repr(pk) for pk in unknown[:5])}"
            + (f" and {len(unknown) - 5} more." if len(unknown) > 5 else ".")
        )
    if problems:
        raise errors.ValidationFailed({"golden_records": problems})
    validation_ids = set(getattr(finetuning, "validation_golden_records", None) or [])
    source = "validation" if validation_ids.issuperset(ids) else "chosen"
    return [found[pk] for pk in ids], source


def _connection_records(finetuning, ids) -> dict[str, GoldenRecord]:
    rows = GoldenRecord.objects.filter(
        db_connection_id=finetuning.db_connection_id,
        db_connection__deleted_at__isnull=True,
        pk__in=[pk for pk in ids if isinstance(pk, str) and "\x00" not in pk],
    ).only("id", "question", "sql")
    return {record.pk: record for record in rows}


# --- Cancel -----------------------------------------------------------------------------


def evaluation_cancel(*, evaluation: Evaluation, actor: str) -> Evaluation:
    """Stop an evaluation: no more model calls; what it stored so far is kept.

    Retrying is safe (a cancelled evaluation is returned as it is); a finished one is
    refused with ``errors.EvaluationNotCancellable``.
    """
    now = timezone.now()
    Evaluation.objects.active().filter(pk=evaluation.pk).update(
        status=EvaluationStatus.CANCELLED,
        cancelled_at=now,
        cancelled_by=actor,
        finished_at=now,
        status_message=CANCELLED_MESSAGE.format(actor=actor),
        # The worker running it loses its lease, and with it every further write.
        lease_owner=None,
        lease_until=None,
    )
    evaluation.refresh_from_db()
    if evaluation.status in EVALUATION_FINISHED_STATUSES:
        raise errors.EvaluationNotCancellable(evaluation.status)
    return evaluation


# --- The worker's writes ------------------------------------------------------------------


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)


def _held(evaluation_id: str, worker_id: str):
    return Evaluation.objects.held_by(worker_id).filter(pk=evaluation_id)


def evaluation_claim(*, worker_id: str) -> Evaluation | None:
    """Lease the oldest queued or running evaluation whose lease is free (or expired).

    A running one with an expired lease is a killed worker's: taking it over resumes it.
    ``SKIP LOCKED`` lets workers claim side by side on PostgreSQL; the conditional update
    decides between two that read the same row (SQLite, or a race).
    """
    now = timezone.now()
    with transaction.atomic():
        candidate = (
            Evaluation.objects.claimable(now)
            .order_by("created_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is None:
            return None
        won = (
            Evaluation.objects.claimable(now)
            .filter(pk=candidate)
            .update(
                status=EvaluationStatus.RUNNING,
                lease_owner=worker_id,
                lease_until=_lease_until(),
                status_message=RUNNING_MESSAGE,
            )
        )
    if not won:
        return None
    Evaluation.objects.filter(pk=candidate, started_at__isnull=True).update(started_at=now)
    return Evaluation.objects.select_related("finetuning__db_connection").get(pk=candidate)


def evaluation_still_held(*, evaluation: Evaluation, worker_id: str) -> bool:
    """Whether this worker may go on (not cancelled, not taken over); renews the lease."""
    return bool(_held(evaluation.pk, worker_id).update(lease_until=_lease_until()))


def evaluation_store_answer(
    *, evaluation: Evaluation, worker_id: str, record: EvaluationRecord, model: str, **answer
) -> bool:
    """Keep one model's answer to one record; False when the worker no longer holds it.

    ``answer``: sql, text, prompt_tokens, completion_tokens, truncated, call_error. An
    answer already stored (a race with a worker that took over) is kept as it was.
    """
    try:
        with transaction.atomic():
            EvaluationAnswer.objects.create(
                evaluation=evaluation, record=record, model=model, **answer
            )
            counted = _held(evaluation.pk, worker_id).update(
                answered_count=F("answered_count") + 1, lease_until=_lease_until()
            )
            if not counted:
                raise _LostLease
    except _LostLease:
        return False
    except IntegrityError:
        return evaluation_still_held(evaluation=evaluation, worker_id=worker_id)
    return True


class _LostLease(Exception):
    pass


def evaluation_store_score(
    *, answer: EvaluationAnswer, exact_match: bool | None, outcome: str, message: str = ""
) -> None:
    """Keep an answer's score (scores are deterministic: a second scoring writes the same)."""
    EvaluationAnswer.objects.filter(pk=answer.pk).update(
        exact_match=exact_match, outcome=outcome, message=message, scored_at=timezone.now()
    )


def evaluation_finish(*, evaluation: Evaluation, worker_id: str, execution_problem) -> bool:
    """running -> succeeded, with the summary; False when the worker no longer holds it."""
    answers = EvaluationAnswer.objects.filter(evaluation=evaluation).only(
        "model", "outcome", "exact_match", "prompt_tokens", "completion_tokens"
    )
    summary = report.build_summary(
        evaluation=evaluation, answers=answers, execution_problem=execution_problem
    )
    now = timezone.now()
    summary["finished_at"] = now.isoformat()
    return bool(
        _held(evaluation.pk, worker_id).update(
            status=EvaluationStatus.SUCCEEDED,
            summary=summary,
            finished_at=now,
            status_message=summary["headline"],
            lease_owner=None,
            lease_until=None,
        )
    )


def evaluation_fail(*, evaluation: Evaluation, worker_id: str, reason: str) -> bool:
    """running -> failed with ``reason``; False when the worker no longer holds it."""
    return bool(
        _held(evaluation.pk, worker_id).update(
            status=EvaluationStatus.FAILED,
            error=reason,
            status_message=reason,
            finished_at=timezone.now(),
            lease_owner=None,
            lease_until=None,
        )
    )


def evaluation_release(*, evaluation: Evaluation, worker_id: str, reason: str, until=None) -> None:
    """Give the evaluation back; a later pass (of any worker, not before ``until``) resumes.

    It stays running: its answers so far are kept and not asked again.
    """
    _held(evaluation.pk, worker_id).update(
        lease_owner=None, lease_until=until, status_message=reason
    )
