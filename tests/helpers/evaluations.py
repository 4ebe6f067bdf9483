"""Helpers for evaluation tests: a succeeded job, and an evaluation run through the
services the worker uses, with chosen verdicts (no provider, no scoring library)."""

from finetunings import selectors, services
from finetunings.models import Finetuning, FinetuningStatus, Outcome

FINE_TUNED_MODEL = "ft:gpt-4o-mini-2024-07-18:acme::evaltest"
BASE_MODEL = "gpt-4o-mini-2024-07-18"
WRONG_SQL = "SELECT 0"


def succeed(job: Finetuning, *, model_id: str = FINE_TUNED_MODEL, **fields) -> Finetuning:
    """The job as the provider leaves a succeeded one: with its fine-tuned model."""
    Finetuning.objects.filter(pk=job.pk).update(
        status=FinetuningStatus.SUCCEEDED, model_id=model_id, model_name=BASE_MODEL, **fields
    )
    job.refresh_from_db()
    return job


def right_first(count: int, of: int) -> list[bool]:
    """``count`` right answers, then wrong ones, ``of`` in all."""
    return [index < count for index in range(of)]


def run_with_verdicts(evaluation, verdicts: dict[str, list[bool]], *, execution_problem=None):
    """Claim, answer, score and finish ``evaluation`` as a worker would; returns it fresh.

    ``verdicts``: per model id, whether its answer to each record (in order) is right.
    """
    worker = "test-worker"
    claimed = services.evaluation_claim(worker_id=worker)
    assert claimed is not None
    assert claimed.pk == evaluation.pk
    records = selectors.evaluation_records(evaluation=claimed)
    for model, rights in verdicts.items():
        for record, right in zip(records, rights, strict=True):
            services.evaluation_store_answer(
                evaluation=claimed,
                worker_id=worker,
                record=record,
                model=model,
                sql=record.sql if right else WRONG_SQL,
                text=record.sql if right else WRONG_SQL,
                prompt_tokens=100,
                completion_tokens=10,
            )
    for answer in selectors.evaluation_unscored_answers(evaluation=claimed):
        right = answer.sql == answer.record.sql
        if execution_problem is None:
            outcome = Outcome.MATCH if right else Outcome.MISMATCH
        else:
            outcome = Outcome.SKIPPED
        services.evaluation_store_score(
            answer=answer,
            exact_match=right,
            outcome=outcome,
            message=execution_problem or "",
        )
    assert services.evaluation_finish(
        evaluation=claimed, worker_id=worker, execution_problem=execution_problem
    )
    claimed.refresh_from_db()
    return claimed
