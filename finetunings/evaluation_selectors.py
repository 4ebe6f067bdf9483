"""Reads of evaluations for the API, the admin and the worker, in a fixed number of queries."""

from django.db.models import JSONField, OuterRef, Prefetch, QuerySet, Subquery

from finetunings.evaluation_models import (
    Evaluation,
    EvaluationAnswer,
    EvaluationRecord,
    EvaluationStatus,
)
from finetunings.hygiene import StoredJSONDecoder


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
    return Subquery(latest.values("summary")[:1], output_field=JSONField(decoder=StoredJSONDecoder))


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
    return (
        Evaluation.objects.filter(finetuning=finetuning, status=EvaluationStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values_list("summary", flat=True)
        .first()
    )
