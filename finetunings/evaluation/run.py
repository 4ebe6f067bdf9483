"""Asking each model for each record's SQL: the run of an evaluation, without storage.

The worker gives the questions (``Question``: a record id and its prompt), the models,
the provider, which pairs are answered already, and a ``store`` callback; ``ask_models``
asks every (record, model) pair not yet answered with at most ``concurrency`` calls in
flight, and hands each answer to ``store`` as it arrives, from the calling thread (so the
callback may use the database). Between calls it asks ``should_stop`` (a cancelled
evaluation), and stops starting new calls once it says yes; calls already in flight are
finished and stored, since they are paid for.

Passing provider errors are retried by the SDK; one that survives the retries ends the run
(``RunResult.unavailable``) with every pair asked so far stored, so the worker backs off and
a later run resumes without asking a model twice. A permanent error (an unknown model, a
refused prompt) is that pair's answer: stored with ``error`` and not asked again.
"""

from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from finetunings.providers.base import ProviderRejected, ProviderUnavailable


@dataclass(frozen=True)
class Question:
    record_id: str
    messages: list[dict]


@dataclass(frozen=True)
class Answer:
    record_id: str
    model: str
    sql: str = ""
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""  # the provider's permanent refusal, when there was no answer


@dataclass(frozen=True)
class RunResult:
    asked: int  # model calls made by this run
    stored: int
    stopped: bool = False  # should_stop said yes before every pair was asked
    unavailable: ProviderUnavailable | None = None  # a passing error ended the run

    @property
    def finished(self) -> bool:
        return not self.stopped and self.unavailable is None


def pending_pairs(
    questions: Sequence[Question], models: Sequence[str], answered: Collection[tuple[str, str]]
) -> list[tuple[Question, str]]:
    """(question, model) pairs still to ask, record by record (so a partial run has whole
    records rather than one model's half)."""
    done = set(answered)
    return [
        (question, model)
        for question in questions
        for model in models
        if (question.record_id, model) not in done
    ]


def _ask(provider, question: Question, model: str, max_tokens: int, timeout) -> Answer:
    try:
        generated = provider.generate_sql(
            model=model, messages=question.messages, max_tokens=max_tokens, timeout=timeout
        )
    except ProviderRejected as exc:
        return Answer(record_id=question.record_id, model=model, error=exc.message)
    return Answer(
        record_id=question.record_id,
        model=model,
        sql=generated.sql,
        text=generated.text,
        prompt_tokens=generated.prompt_tokens,
        completion_tokens=generated.completion_tokens,
    )


def ask_models(
    *,
    questions: Sequence[Question],
    models: Sequence[str],
    provider,
    store: Callable[[Answer], None],
    answered: Collection[tuple[str, str]] = (),
    concurrency: int = 4,
    max_tokens: int = 512,
    timeout: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunResult:
    pairs: Iterable[tuple[Question, str]] = iter(pending_pairs(questions, models, answered))
    asked = stored = 0
    stopped = False
    unavailable: ProviderUnavailable | None = None
    in_flight: set[Future] = set()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while True:
            while len(in_flight) < max(1, concurrency) and not stopped and unavailable is None:
                if should_stop():
                    stopped = True
                    break
                pair = next(pairs, None)
                if pair is None:
                    break
                in_flight.add(pool.submit(_ask, provider, *pair, max_tokens, timeout))
                asked += 1
            if not in_flight:
                break
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    answer = future.result()
                except ProviderUnavailable as exc:
                    unavailable = unavailable or exc
                    continue
                store(answer)
                stored += 1
    return RunResult(asked=asked, stored=stored, stopped=stopped, unavailable=unavailable)
