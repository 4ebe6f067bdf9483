"""The worker's evaluation step: claim one evaluation, ask its models, score, finish.

Called once per worker pass (``worker.run_once``). The pass stays short: at most
``FINETUNING_EVALUATION_CALLS_PER_PASS`` model calls, then the evaluation is given back and
the next pass (of any worker) resumes it, so jobs keep being submitted and followed while
a long evaluation runs. Resuming never asks a model twice for a record: answers are stored
one by one as they arrive, and only pairs without one are asked.

The model calls and the scoring are ``finetunings.evaluation``'s (bounded concurrency,
read-only execution); this module holds the storage around them. Between calls the
evaluation's lease is renewed by a conditional update, which is also how a cancel (or a
takeover after this worker's lease ran out) stops further calls.
"""

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from finetunings import selectors, services
from finetunings.evaluation import Scorer, ask_models, questions_for, report
from finetunings.models import Evaluation, Outcome
from finetunings.providers import get_provider

logger = logging.getLogger(__name__)

UNEXPECTED_ERROR_MESSAGE = "The evaluation hit an unexpected error ({error}); it is stopped."
PROVIDER_UNAVAILABLE_MESSAGE = (
    "The provider could not be reached ({error}); the worker resumes the evaluation at "
    "{when:%Y-%m-%d %H:%M:%S} UTC."
)
PAUSED_MESSAGE = "{answered} of {total} answers; the next worker pass continues."
CALL_ERROR_MESSAGE = "The model could not be asked: {error}"


def run_evaluations(
    *, worker_id: str, log: Callable[[str], None] | None = None, stop=None
) -> str | None:
    """Work on one evaluation for at most one pass's budget; return its id (None: none due).

    ``stop`` (SIGTERM) ends the step between model calls, with the evaluation given back.
    """
    log = log or logger.info
    evaluation = services.evaluation_claim(worker_id=worker_id)
    if evaluation is None:
        return None
    try:
        _work_on(evaluation, worker_id=worker_id, log=log, stop=stop or threading.Event())
    except Exception as exc:
        # One evaluation's failure must not stop the worker (jobs wait on the same pass).
        logger.exception("Evaluation %s failed", evaluation.pk)
        services.evaluation_fail(
            evaluation=evaluation,
            worker_id=worker_id,
            reason=UNEXPECTED_ERROR_MESSAGE.format(error=type(exc).__name__),
        )
    return evaluation.pk


def _work_on(evaluation: Evaluation, *, worker_id: str, log, stop: threading.Event) -> None:
    connection = evaluation.finetuning.db_connection
    records = list(evaluation.records.order_by("position"))
    asking = _Asking(evaluation, records, worker_id=worker_id, stop=stop)
    result = ask_models(
        questions=questions_for(connection, records),
        models=evaluation.model_ids,
        provider=get_provider(evaluation.finetuning.model_provider),
        store=asking.store,
        answered=selectors.evaluation_answered_pairs(evaluation=evaluation),
        concurrency=settings.FINETUNING_EVALUATION_CONCURRENCY,
        max_tokens=settings.FINETUNING_EVALUATION_MAX_TOKENS,
        should_stop=asking.should_stop,
    )
    log(f"evaluation {evaluation.pk}: {result.asked} model calls, {result.stored} answers stored")
    if asking.lost:
        return  # cancelled, or another worker holds it now: nothing more to write
    if result.unavailable is not None:
        _back_off(evaluation, worker_id=worker_id, error=result.unavailable.message)
        return
    if result.stopped:
        evaluation.refresh_from_db(fields=["answered_count"])
        message = PAUSED_MESSAGE.format(
            answered=evaluation.answered_count, total=evaluation.total_answers
        )
        services.evaluation_release(evaluation=evaluation, worker_id=worker_id, reason=message)
        return
    if _score(evaluation, connection=connection, worker_id=worker_id):
        services.evaluation_finish(
            evaluation=evaluation,
            worker_id=worker_id,
            execution_problem=report.execution_problem(connection),
        )
        log(f"evaluation {evaluation.pk} finished")


class _Asking:
    """The run's callbacks: store each answer; stop on cancel, takeover, budget or SIGTERM."""

    def __init__(self, evaluation: Evaluation, records, *, worker_id: str, stop: threading.Event):
        self.evaluation = evaluation
        self.worker_id = worker_id
        self.stop = stop
        self.records = {record.pk: record for record in records}
        self.calls_left = settings.FINETUNING_EVALUATION_CALLS_PER_PASS
        self.lost = False

    def store(self, answer) -> None:
        stored = services.evaluation_store_answer(
            evaluation=self.evaluation,
            worker_id=self.worker_id,
            record=self.records[answer.record_id],
            model=answer.model,
            sql=answer.sql,
            text=answer.text,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            call_error=answer.error,
        )
        self.lost = self.lost or not stored

    def should_stop(self) -> bool:
        if self.lost or self.stop.is_set() or self.calls_left <= 0:
            return True
        self.calls_left -= 1
        held = services.evaluation_still_held(evaluation=self.evaluation, worker_id=self.worker_id)
        self.lost = not held
        return self.lost


def _score(evaluation: Evaluation, *, connection, worker_id: str) -> bool:
    """Score every answer not scored yet; False if the evaluation was lost meanwhile."""
    answers = selectors.evaluation_unscored_answers(evaluation=evaluation)
    with Scorer.for_connection(connection, allow_execution=connection.allow_execution) as scorer:
        for answer in answers:
            if answer.call_error:
                exact, outcome = False, Outcome.INVALID
                message = CALL_ERROR_MESSAGE.format(error=answer.call_error)
            else:
                score = scorer.score(gold_sql=answer.record.sql, predicted_sql=answer.sql)
                exact, outcome, message = score.exact_match, score.outcome, score.message
            services.evaluation_store_score(
                answer=answer, exact_match=exact, outcome=outcome, message=message
            )
            # Executing queries takes time too: keep the lease, and see a cancel.
            if not services.evaluation_still_held(evaluation=evaluation, worker_id=worker_id):
                return False
    return True


def _back_off(evaluation: Evaluation, *, worker_id: str, error: str) -> None:
    when = timezone.now() + timedelta(seconds=settings.FINETUNING_WORKER_BACKOFF_SECONDS)
    services.evaluation_release(
        evaluation=evaluation,
        worker_id=worker_id,
        reason=PROVIDER_UNAVAILABLE_MESSAGE.format(error=error, when=when),
        until=when,
    )
