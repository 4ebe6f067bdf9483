"""generate_sql through the real OpenAI SDK against the fake provider's chat completions."""

import pytest

from finetunings.providers import (
    GeneratedSQL,
    ProviderRejected,
    ProviderUnavailable,
    extract_sql,
    get_provider,
    reset_providers,
)
from finetunings.providers.sandbox import SANDBOX_ANSWER, SandboxProvider
from finetunings.training_data import prompt_messages
from tests.fakes.openai_chat import ChatAnswer
from tests.fakes.openai_fixtures import SLOWER_THAN_TIMEOUT

MODEL = "ft:gpt-4o-mini-2024-07-18:acme::gen"
QUESTION = "How many orders are there?"
MESSAGES = prompt_messages("You are an expert in PostgreSQL SQL.", QUESTION)


def _ask(**overrides) -> GeneratedSQL:
    options = {"model": MODEL, "messages": MESSAGES, "max_tokens": 200, **overrides}
    return get_provider("openai").generate_sql(**options)


def test_the_sql_of_a_fenced_answer_comes_back_with_its_token_usage(openai_provider):
    openai_provider.answer_chat(MODEL, {QUESTION: ChatAnswer.sql("SELECT count(*) FROM orders")})
    generated = _ask()
    assert generated.sql == "SELECT count(*) FROM orders"
    assert generated.text == "```sql\nSELECT count(*) FROM orders\n```"
    assert generated.prompt_tokens > 0
    assert generated.completion_tokens > 0
    assert generated.truncated is False


def test_the_model_is_asked_with_the_messages_and_the_token_cap(openai_provider):
    openai_provider.answer_chat(MODEL, {}, default="SELECT 1")
    _ask(max_tokens=64)
    assert openai_provider.chat_calls == [(MODEL, MESSAGES)]
    assert openai_provider.chat_calls_for(MODEL, QUESTION) == 1


def test_a_wrong_answer_is_returned_as_the_model_gave_it(openai_provider):
    openai_provider.answer_chat(MODEL, {QUESTION: "SELECT count(*) FROM customers"})
    assert _ask().sql == "SELECT count(*) FROM customers"


def test_an_answer_that_is_not_sql_comes_back_as_text_for_scoring_to_judge(openai_provider):
    openai_provider.answer_chat(MODEL, {QUESTION: ChatAnswer.prose("I cannot tell.")})
    generated = _ask()
    assert generated.sql == "I cannot tell."
    assert generated.text == "I cannot tell."


def test_an_answer_cut_by_the_token_cap_is_marked_truncated(openai_provider):
    openai_provider.answer_chat(MODEL, {QUESTION: "SELECT " + ", ".join(["a"] * 200)})
    assert _ask(max_tokens=5).truncated is True


def test_a_slow_model_times_out_as_a_passing_error(openai_provider):
    openai_provider.answer_chat(MODEL, {QUESTION: ChatAnswer.slow(SLOWER_THAN_TIMEOUT)})
    with pytest.raises(ProviderUnavailable, match="did not answer within"):
        _ask()


def test_a_failing_model_is_a_passing_error_after_the_sdk_retries(openai_provider, settings):
    settings.OPENAI_MAX_RETRIES = 2
    reset_providers()
    openai_provider.answer_chat(MODEL, {QUESTION: ChatAnswer.failing(500)})
    with pytest.raises(ProviderUnavailable) as raised:
        _ask()
    assert raised.value.status_code == 500
    assert openai_provider.chat_calls_for(MODEL) == 3  # the first call and two SDK retries


def test_an_unknown_model_is_a_permanent_error_not_retried(openai_provider, settings):
    settings.OPENAI_MAX_RETRIES = 2
    reset_providers()
    with pytest.raises(ProviderRejected) as raised:
        _ask(model="ft:nobody")
    assert raised.value.status_code == 404
    assert openai_provider.chat_calls_for("ft:nobody") == 1


def test_the_sandbox_answers_the_same_sql_every_time():
    generated = SandboxProvider().generate_sql(model="sandbox", messages=MESSAGES, max_tokens=10)
    assert generated.sql == SANDBOX_ANSWER
    assert generated.prompt_tokens > 0


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("```sql\nSELECT 1;\n```", "SELECT 1"),
        ("Here it is:\n```\nSELECT a\nFROM t\n```\nThis counts them.", "SELECT a\nFROM t"),
        ("```SELECT a FROM t```", "SELECT a FROM t"),
        ("The query is:\nSELECT a FROM t;", "SELECT a FROM t"),
        ("with x as (select 1) select * from x", "with x as (select 1) select * from x"),
        ("```sql\nSELECT 2", "SELECT 2"),
        ("I cannot answer.", "I cannot answer."),
        ("", ""),
        (None, ""),
    ],
)
def test_sql_is_extracted_from_fences_and_surrounding_prose(text, sql):
    assert extract_sql(text) == sql
