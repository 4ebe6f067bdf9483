"""The run: every (record, model) pair asked once, with bounded concurrency, through the
real SDK; a cancel stops further calls, and a resumed run never asks a pair twice."""

import threading

import pytest

from finetunings.evaluation import Question, ask_models
from finetunings.providers import get_provider
from finetunings.training_data import prompt_messages
from tests.fakes.openai_chat import ChatAnswer

FINE_TUNED, BASE = "ft:gpt-4o-mini-2024-07-18:acme::run", "gpt-4o-mini-2024-07-18"
MODELS = [FINE_TUNED, BASE]
QUESTIONS = [
    Question(record_id=f"rec{i}", messages=prompt_messages("Schema", f"Question {i}?"))
    for i in range(6)
]


class InFlight:
    """The real provider, watched: how many of its calls were in flight at once."""

    def __init__(self, provider):
        self._provider = provider
        self._lock = threading.Lock()
        self.now = self.most = 0

    def generate_sql(self, **kwargs):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self._provider.generate_sql(**kwargs)
        finally:
            with self._lock:
                self.now -= 1


@pytest.fixture
def models_answer(openai_provider):
    for model in MODELS:
        openai_provider.answer_chat(model, {}, default="SELECT 1")
    return openai_provider


def _run(stored: dict, **options):
    options.setdefault("provider", get_provider("openai"))
    return ask_models(
        questions=QUESTIONS,
        models=MODELS,
        store=lambda answer: stored.__setitem__((answer.record_id, answer.model), answer),
        **options,
    )


def test_every_pair_is_asked_once_with_at_most_the_concurrency_in_flight(models_answer):
    models_answer.chat_delay = 0.2
    watched, stored = InFlight(get_provider("openai")), {}
    result = _run(stored, provider=watched, concurrency=3)
    assert result.finished
    assert (result.asked, result.stored) == (12, 12)
    assert 1 < watched.most <= 3
    for question in QUESTIONS:
        for model in MODELS:
            assert models_answer.chat_calls_for(model, question.messages[-1]["content"]) == 1
            assert stored[question.record_id, model].sql == "SELECT 1"


def test_answers_are_stored_from_the_calling_thread(models_answer):
    threads = set()
    ask_models(
        questions=QUESTIONS[:2],
        models=MODELS,
        provider=get_provider("openai"),
        store=lambda answer: threads.add(threading.current_thread()),
        concurrency=4,
    )
    assert threads == {threading.current_thread()}


def test_cancelling_stops_further_model_calls(models_answer):
    stored = {}
    result = _run(stored, concurrency=1, should_stop=lambda: len(stored) >= 3)
    assert result.stopped
    assert len(models_answer.chat_calls) == 3
    assert len(stored) == 3


def test_a_resumed_run_never_asks_a_model_twice_for_the_same_record(models_answer):
    stored = {}
    _run(stored, concurrency=2, should_stop=lambda: len(stored) >= 5)
    first_calls = len(models_answer.chat_calls)
    assert 5 <= first_calls < 12
    result = _run(stored, concurrency=2, answered=set(stored))
    assert result.finished
    assert result.asked == 12 - first_calls
    assert len(models_answer.chat_calls) == 12
    for question in QUESTIONS:
        for model in MODELS:
            assert models_answer.chat_calls_for(model, question.messages[-1]["content"]) == 1


def test_a_passing_error_ends_the_run_and_the_rest_is_asked_later(models_answer):
    failing = QUESTIONS[2].messages[-1]["content"]
    models_answer.answer_chat(BASE, {failing: ChatAnswer.failing(503)}, default="SELECT 1")
    stored = {}
    result = _run(stored, concurrency=1)
    assert result.unavailable is not None
    assert result.unavailable.status_code == 503
    assert (QUESTIONS[2].record_id, BASE) not in stored
    assert len(stored) == 5  # the pairs before the failing one, record by record

    models_answer.answer_chat(BASE, {}, default="SELECT 2")
    again = _run(stored, concurrency=1, answered=set(stored))
    assert again.finished
    assert len(stored) == 12
    assert stored[QUESTIONS[2].record_id, BASE].sql == "SELECT 2"


def test_a_permanent_error_is_that_pairs_answer(models_answer):
    stored = {}
    result = ask_models(
        questions=QUESTIONS[:1],
        models=[FINE_TUNED, "ft:deleted-model"],
        provider=get_provider("openai"),
        store=lambda answer: stored.__setitem__(answer.model, answer),
    )
    assert result.finished
    assert stored[FINE_TUNED].error == ""
    assert stored["ft:deleted-model"].sql == ""
    assert "does not exist" in stored["ft:deleted-model"].error
