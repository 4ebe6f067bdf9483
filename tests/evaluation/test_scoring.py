"""Exact match after normalisation, result comparison, and outcomes that need no database."""

from decimal import Decimal

import pytest

from finetunings.evaluation import normalize, scoring, summarize
from finetunings.evaluation.scoring import RecordScore, Scorer
from finetunings.validation import SQLGLOT_DIALECTS

DIALECTS = sorted(SQLGLOT_DIALECTS)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_formatting_case_and_order_of_and_operands_do_not_matter(dialect):
    assert normalize.exact_match(
        "select A from t where x=1 and y=2", "SELECT a FROM t WHERE y = 2 AND x = 1", dialect
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_different_value_is_a_different_query(dialect):
    assert not normalize.exact_match(
        "select A from t where x=2 and y=2", "SELECT a FROM t WHERE y = 2 AND x = 1", dialect
    )


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("SELECT o.id FROM orders o WHERE o.total > 1", "SELECT id FROM orders WHERE total > 1"),
        ("SELECT count(*) AS n FROM orders", "SELECT COUNT(*) FROM orders"),
        ("SELECT a FROM t WHERE b = 1 OR c = 2", "SELECT a FROM t WHERE c = 2 OR b = 1"),
        ("SELECT a FROM t WHERE 1 = b", "SELECT a FROM t WHERE b = 1"),
        ("SELECT a FROM t WHERE 5 < b", "SELECT a FROM t WHERE b > 5"),
        ("SELECT a FROM t WHERE b IN (3, 1, 2)", "SELECT a FROM t WHERE b IN (1, 2, 3)"),
        (
            "SELECT c.name, count(*) AS n FROM customers c JOIN orders o ON o.customer_id = c.id "
            "GROUP BY c.name ORDER BY n DESC",
            "select customers.name, count(*) from customers join orders "
            "on customers.id = orders.customer_id group by customers.name order by count(*) desc",
        ),
    ],
)
def test_aliases_and_commutative_parts_are_ignored(predicted, gold):
    assert normalize.exact_match(predicted, gold, "postgresql")


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("SELECT a FROM t WHERE b > 5", "SELECT a FROM t WHERE b < 5"),
        ("SELECT a, b FROM t", "SELECT b, a FROM t"),
        ("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a DESC"),
        ("SELECT a FROM t WHERE b = 'X'", "SELECT a FROM t WHERE b = 'x'"),
    ],
)
def test_changes_that_can_change_the_result_are_not_ignored(predicted, gold):
    assert not normalize.exact_match(predicted, gold, "postgresql")


def test_a_long_chain_of_conditions_in_any_order_matches():
    conditions = [f"c{i} = {i}" for i in range(300)]
    predicted = "SELECT a FROM t WHERE " + " AND ".join(conditions)
    gold = "SELECT a FROM t WHERE " + " AND ".join(reversed(conditions))
    assert normalize.exact_match(predicted, gold, "postgresql")


@pytest.mark.parametrize(
    "answer", ["I cannot answer that.", "SELECT FROM WHERE", "SELECT (", "", "   "]
)
def test_an_answer_that_is_not_one_statement_is_invalid(answer):
    scorer = Scorer(dialect="postgresql", skip_reason="not executed in this test")
    score = scorer.score(gold_sql="SELECT 1", predicted_sql=answer)
    assert (score.exact_match, score.outcome) == (False, scoring.INVALID)
    assert score.message


def test_a_connection_without_the_execution_switch_gets_exact_match_only(make_connection):
    connection = make_connection(dialect="sqlite")
    with Scorer.for_connection(connection, allow_execution=False) as scorer:
        right = scorer.score(
            gold_sql="SELECT count(*) FROM orders", predicted_sql="select COUNT(*) from orders"
        )
        wrong = scorer.score(gold_sql="SELECT count(*) FROM orders", predicted_sql="SELECT 2")
    assert right == RecordScore(True, scoring.SKIPPED, scoring.EXECUTION_NOT_ALLOWED)
    assert wrong == RecordScore(False, scoring.SKIPPED, scoring.EXECUTION_NOT_ALLOWED)


def test_a_dialect_that_cannot_be_executed_gets_exact_match_only(make_connection):
    connection = make_connection(dialect="snowflake")
    with Scorer.for_connection(connection, allow_execution=True) as scorer:
        score = scorer.score(gold_sql="SELECT a FROM t", predicted_sql="select A from T")
    assert score.exact_match is True
    assert score.outcome == scoring.SKIPPED
    assert "snowflake queries are not executed" in score.message


def test_a_write_is_refused_even_where_nothing_would_be_executed():
    scorer = Scorer(dialect="postgresql", skip_reason="not executed in this test")
    score = scorer.score(gold_sql="SELECT 1", predicted_sql="DELETE FROM orders")
    assert (score.exact_match, score.outcome) == (False, scoring.REFUSED)


def test_results_are_compared_as_multisets_unless_the_gold_orders_them():
    rows, shuffled = [(1, "a"), (2, "b"), (2, "b")], [(2, "b"), (1, "a"), (2, "b")]
    assert scoring.results_agree(shuffled, rows, ordered=False)
    assert not scoring.results_agree(shuffled, rows, ordered=True)
    assert not scoring.results_agree([(1, "a"), (2, "b")], rows, ordered=False)


def test_numbers_of_different_types_compare_by_value():
    assert scoring.results_agree(
        [(Decimal("111.0000"), 2.5)], [(111, Decimal("2.5"))], ordered=True
    )
    assert not scoring.results_agree([(Decimal("111.5"),)], [(111,)], ordered=True)


def test_summary_counts_outcomes_and_both_accuracies():
    scores = [
        RecordScore(True, scoring.MATCH),
        RecordScore(False, scoring.MATCH),
        RecordScore(False, scoring.MISMATCH),
        RecordScore(False, scoring.INVALID),
        RecordScore(True, scoring.SKIPPED, "gold cannot run"),
    ]
    summary = summarize(scores)
    assert summary.records == 5
    assert summary.exact_matches == 2
    assert summary.exact_match_accuracy == pytest.approx(0.4)
    assert summary.execution_accuracy == pytest.approx(0.5)
    assert summary.outcomes[scoring.MATCH] == 2
    assert summary.outcomes[scoring.REFUSED] == 0
