"""Execution match on real databases: an SQLite file and a PostgreSQL database.

The same ten golden records on both: the fine-tuned model (through the real SDK and the
fake provider) answers 8 right and the base model 5, and scoring says exactly that, record
by record and in total. Writes are refused before anything runs, a slow query is stopped,
and the database is the same afterwards.
"""

import os
import sqlite3

import pytest

from finetunings.evaluation import Scorer, ask_models, questions_for, scoring, summarize
from finetunings.evaluation.execution import ExecutionLimits, executor_for
from finetunings.evaluation.scoring import RecordScore
from finetunings.models import GoldenRecord
from finetunings.providers import get_provider
from tests.fakes.openai_chat import ChatAnswer
from tests.helpers import evaluation_data as data
from tests.helpers.evaluation_data import BASE_MODEL, CASES, FINE_TUNED_MODEL

LIMITS = ExecutionLimits(timeout_seconds=1.0, row_cap=50, connect_timeout_seconds=5)

WRITES = [
    "DELETE FROM orders",
    "UPDATE orders SET total = 0",
    "DROP TABLE sentinel",
    "INSERT INTO sentinel VALUES (2)",
    "SELECT * INTO stolen FROM orders",
    "SELECT 1; DELETE FROM sentinel",
    "WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone",
    "CREATE TABLE stolen AS SELECT * FROM customers",
    "SELECT * FROM orders FOR UPDATE",
]
POSTGRES_WRITES = [
    "SELECT nextval('counter')",
    "SELECT setval('counter', 100)",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM x') AS t(a int)",
    "COPY orders TO '/tmp/orders.csv'",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
]
SQLITE_WRITES = [
    "ATTACH DATABASE '/tmp/other.db' AS other",
    "PRAGMA writable_schema = ON",
    "SELECT load_extension('/tmp/evil.so')",
]
SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(5)",
}


@pytest.fixture
def sqlite_connection(make_connection, tmp_path):
    uri = data.create_sqlite_database(tmp_path / "shop.db")
    return make_connection(dialect="sqlite", connection_uri=uri, schema=data.SCHEMA)


@pytest.fixture
def postgresql_connection(make_connection):
    name = f"ft_eval_core_exec_{os.getpid()}"
    uri = data.create_postgres_database(name)
    yield make_connection(dialect="postgresql", connection_uri=uri, schema=data.SCHEMA)
    data.drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shop(request):
    """The shop database's connection, on SQLite, and on PostgreSQL when the suite runs there."""
    return request.getfixturevalue(f"{request.param}_connection")


def _counts(connection) -> dict[str, int]:
    return data.table_counts(lambda sql: _run(connection, sql))


def _chat_answer(text: str) -> ChatAnswer:
    return ChatAnswer.prose(text) if text == data.PROSE else ChatAnswer.sql(text)


def _score(connection, predicted_sql: str, gold_sql: str = "SELECT 1") -> RecordScore:
    with Scorer.for_connection(connection, allow_execution=True, limits=LIMITS) as scorer:
        return scorer.score(gold_sql=gold_sql, predicted_sql=predicted_sql)


def _run(connection, sql: str) -> list[tuple]:
    executor = executor_for(connection.dialect, connection.connection_uri, LIMITS)
    try:
        return executor.run(sql)
    finally:
        executor.close()


def _answer_table(openai_provider):
    openai_provider.answer_chat(
        FINE_TUNED_MODEL, {case.question: _chat_answer(case.fine_tuned) for case in CASES}
    )
    openai_provider.answer_chat(
        BASE_MODEL, {case.question: _chat_answer(case.base) for case in CASES}
    )


def test_fine_tuned_8_of_10_and_base_5_of_10_per_record_and_in_total(shop, openai_provider):
    records = GoldenRecord.objects.bulk_create(
        GoldenRecord(db_connection=shop, question=case.question, sql=case.gold) for case in CASES
    )
    _answer_table(openai_provider)
    answers = {}
    result = ask_models(
        questions=questions_for(shop, records),
        models=[FINE_TUNED_MODEL, BASE_MODEL],
        provider=get_provider("openai"),
        store=lambda answer: answers.__setitem__((answer.record_id, answer.model), answer),
        concurrency=4,
    )
    assert result.finished
    assert result.asked == 20
    before = _counts(shop)
    with Scorer.for_connection(shop, allow_execution=True, limits=LIMITS) as scorer:
        scores = {
            model: [
                scorer.score(gold_sql=record.sql, predicted_sql=answers[record.pk, model].sql)
                for record in records
            ]
            for model in (FINE_TUNED_MODEL, BASE_MODEL)
        }
    expected = {
        FINE_TUNED_MODEL: [case.fine_tuned_expected for case in CASES],
        BASE_MODEL: [case.base_expected for case in CASES],
    }
    for model, model_scores in scores.items():
        assert [(s.exact_match, s.outcome) for s in model_scores] == expected[model], model
    fine_tuned, base = summarize(scores[FINE_TUNED_MODEL]), summarize(scores[BASE_MODEL])
    assert (fine_tuned.execution_accuracy, base.execution_accuracy) == (0.8, 0.5)
    assert (fine_tuned.exact_matches, base.exact_matches) == (5, 4)
    assert base.outcomes[scoring.REFUSED] == 1
    assert base.outcomes[scoring.EXECUTION_ERROR] == 1
    assert _counts(shop) == before


@pytest.mark.parametrize("sql", WRITES)
def test_a_write_is_never_executed_and_is_scored_refused(shop, sql):
    before = _counts(shop)
    score = _score(shop, sql, gold_sql="SELECT count(*) FROM orders")
    assert score.outcome == scoring.REFUSED, score
    assert _counts(shop) == before


@pytest.mark.postgres
@pytest.mark.parametrize("sql", POSTGRES_WRITES)
def test_a_postgres_function_that_writes_or_escapes_is_refused(postgresql_connection, sql):
    before = _counts(postgresql_connection)
    assert _score(postgresql_connection, sql).outcome == scoring.REFUSED
    assert _counts(postgresql_connection) == before
    # The sequence was never advanced: its next value would still be 1.
    counter = _run(postgresql_connection, "SELECT last_value, is_called FROM counter")
    assert counter == [(1, False)]


@pytest.mark.parametrize("sql", SQLITE_WRITES)
def test_sqlite_attach_pragma_and_extensions_are_refused(sqlite_connection, sql):
    assert _score(sqlite_connection, sql).outcome == scoring.REFUSED


def test_a_query_past_the_timeout_is_stopped_and_scored_an_execution_error(shop):
    with Scorer.for_connection(shop, allow_execution=True, limits=LIMITS) as scorer:
        slow = scorer.score(gold_sql="SELECT 1", predicted_sql=SLOW[shop.dialect])
        after = scorer.score(gold_sql="SELECT 1", predicted_sql="SELECT 1")
    assert slow.outcome == scoring.EXECUTION_ERROR
    assert "longer than 1 seconds" in slow.message
    assert after.outcome == scoring.MATCH  # the connection is still usable


def test_more_rows_than_the_cap_is_an_execution_error(shop):
    limits = ExecutionLimits(timeout_seconds=2.0, row_cap=3)
    with Scorer.for_connection(shop, allow_execution=True, limits=limits) as scorer:
        score = scorer.score(gold_sql="SELECT 1", predicted_sql="SELECT id FROM orders")
    assert score == RecordScore(
        False,
        scoring.EXECUTION_ERROR,
        "The query returned more than 3 rows; results are not compared.",
    )


def test_the_database_itself_refuses_a_write_the_checks_let_through(sqlite_connection):
    # Behind the parser: SQLite's authorizer and the read-only file refuse a write too.
    executor = executor_for("sqlite", sqlite_connection.connection_uri, LIMITS)
    try:
        with pytest.raises(Exception, match="not authorized|readonly"):
            executor.run("DELETE FROM sentinel")
        assert executor.run("SELECT count(*) FROM sentinel") == [(1,)]
    finally:
        executor.close()


def test_an_unreachable_database_skips_execution_with_the_reason(make_connection, tmp_path):
    connection = make_connection(dialect="sqlite", connection_uri=f"sqlite:///{tmp_path}/none.db")
    score = _score(connection, "select 1")
    assert (score.exact_match, score.outcome) == (True, scoring.SKIPPED)
    assert "could not be reached" in score.message
    assert not (tmp_path / "none.db").exists()  # opened read-only: never created


def test_a_gold_query_that_fails_skips_execution(sqlite_connection):
    score = _score(sqlite_connection, "SELECT id FROM orders", gold_sql="SELECT nope FROM orders")
    assert score.outcome == scoring.SKIPPED
    assert score.message.startswith("The gold SQL cannot be executed")


def test_sqlite_file_is_byte_for_byte_unchanged(sqlite_connection, tmp_path):
    path = tmp_path / "shop.db"
    before = path.read_bytes()
    with Scorer.for_connection(sqlite_connection, allow_execution=True, limits=LIMITS) as scorer:
        for sql in [*WRITES, *SQLITE_WRITES, "SELECT * FROM orders"]:
            scorer.score(gold_sql="SELECT * FROM orders", predicted_sql=sql)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM sentinel").fetchone() == (1,)
