"""Scoring one generated query against its golden record: exact match and execution match.

Every answer gets an exact-match verdict (normalised SQL, see ``normalize``) and one
outcome:
- ``match`` / ``mismatch``: both queries ran and their results agree or not (as multisets
  of rows, or as lists when the gold query orders its result at the top level);
- ``invalid``: the predicted SQL is not one statement in the dialect (prose, broken SQL);
- ``refused``: it parses but is not a single read-only SELECT, so it was never executed;
- ``execution_error``: the database failed it (an error, the timeout, too many rows);
- ``skipped``: execution was not attempted or says nothing (the connection does not allow
  it, the dialect cannot be executed, the gold query cannot run); ``message`` says why.
"""

import json
import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from sqlglot import exp

from finetunings.evaluation import execution
from finetunings.evaluation.normalize import (
    InvalidSQL,
    SeveralStatements,
    canonical_text,
    parse_query,
)
from finetunings.evaluation.safety import QueryRefused, check_read_only

MATCH = "match"
MISMATCH = "mismatch"
INVALID = "invalid"
REFUSED = "refused"
EXECUTION_ERROR = "execution_error"
SKIPPED = "skipped"
OUTCOMES = (MATCH, MISMATCH, INVALID, REFUSED, EXECUTION_ERROR, SKIPPED)

NO_SQL_MESSAGE = "The model's answer holds no SQL."
EXECUTION_NOT_ALLOWED = "The connection does not allow execution: exact match only."
DIALECT_NOT_EXECUTABLE = "{dialect} queries are not executed: exact match only."
GOLD_NOT_EXECUTABLE = "The gold SQL cannot be executed ({reason}): exact match only."
MISMATCH_MESSAGE = "The results differ ({predicted} rows predicted, {gold} expected)."


@dataclass(frozen=True)
class RecordScore:
    exact_match: bool
    outcome: str
    message: str = ""


def _value(value):
    """A cell in a form that compares equal when the data is equal (1 == 1.0 == Decimal)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number) or (number.is_integer() and abs(number) < 2**53):
            return int(number) if not math.isinf(number) else number
        return round(number, 6)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def results_agree(predicted: list[tuple], gold: list[tuple], *, ordered: bool) -> bool:
    predicted_rows = [tuple(_value(cell) for cell in row) for row in predicted]
    gold_rows = [tuple(_value(cell) for cell in row) for row in gold]
    if ordered:
        return predicted_rows == gold_rows
    return Counter(predicted_rows) == Counter(gold_rows)


def _canonical(tree: exp.Expression, dialect: str) -> str | None:
    try:
        return canonical_text(tree, dialect)
    except Exception:  # sqlglot's rewrites raise plain errors on odd trees: no exact match
        return None


def _ordered(tree: exp.Expression) -> bool:
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def _limits() -> execution.ExecutionLimits:
    return execution.ExecutionLimits(
        timeout_seconds=settings.FINETUNING_EVALUATION_STATEMENT_TIMEOUT_SECONDS,
        row_cap=settings.FINETUNING_EVALUATION_ROW_CAP,
        connect_timeout_seconds=settings.FINETUNING_EVALUATION_CONNECT_TIMEOUT_SECONDS,
    )


class Scorer:
    """Scores answers for one connection; use it as a context manager (it may hold a
    database connection). Gold results are run once and reused for every model."""

    def __init__(self, *, dialect: str, executor=None, skip_reason: str = ""):
        self.dialect = dialect
        self._executor = executor
        self._skip_reason = skip_reason
        self._gold: dict[str, tuple] = {}
        self._gold_texts: dict[str, str | None] = {}

    @classmethod
    def for_connection(
        cls,
        connection,
        *,
        allow_execution: bool,
        limits: execution.ExecutionLimits | None = None,
    ) -> "Scorer":
        """A scorer for ``connection``'s dialect and database. ``allow_execution`` is the
        connection's own switch (the owner's consent to queries on their database)."""
        dialect = connection.dialect
        if dialect not in execution.EXECUTABLE_DIALECTS:
            return cls(dialect=dialect, skip_reason=DIALECT_NOT_EXECUTABLE.format(dialect=dialect))
        if not allow_execution:
            return cls(dialect=dialect, skip_reason=EXECUTION_NOT_ALLOWED)
        executor = execution.executor_for(dialect, connection.connection_uri, limits or _limits())
        return cls(dialect=dialect, executor=executor)

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._executor is not None:
            self._executor.close()

    def score(self, *, gold_sql: str, predicted_sql: str) -> RecordScore:
        if not (predicted_sql or "").strip():
            return RecordScore(False, INVALID, NO_SQL_MESSAGE)
        try:
            predicted = parse_query(predicted_sql, self.dialect)
        except SeveralStatements as exc:
            return RecordScore(False, REFUSED, str(exc))
        except InvalidSQL as exc:
            return RecordScore(False, INVALID, str(exc))
        gold = self._parse_gold(gold_sql)
        gold_text = self._gold_text(gold_sql, gold)
        exact = gold_text is not None and _canonical(predicted, self.dialect) == gold_text
        try:
            check_read_only(predicted)
        except QueryRefused as exc:
            return RecordScore(exact, REFUSED, exc.message)
        if self._skip_reason:
            return RecordScore(exact, SKIPPED, self._skip_reason)
        return self._execution_score(exact, gold_sql, gold, predicted_sql)

    def _gold_text(self, gold_sql: str, gold) -> str | None:
        if gold_sql not in self._gold_texts:
            self._gold_texts[gold_sql] = _canonical(gold, self.dialect) if gold else None
        return self._gold_texts[gold_sql]

    def _parse_gold(self, gold_sql: str) -> exp.Expression | None:
        try:
            return parse_query(gold_sql, self.dialect)
        except InvalidSQL:
            return None

    def _execution_score(self, exact, gold_sql, gold, predicted_sql) -> RecordScore:
        gold_rows, gold_problem = self._gold_result(gold_sql, gold)
        if gold_problem:
            return RecordScore(exact, SKIPPED, GOLD_NOT_EXECUTABLE.format(reason=gold_problem))
        try:
            rows = self._executor.run(predicted_sql)
        except execution.DatabaseUnreachable as exc:
            return RecordScore(exact, SKIPPED, exc.message)
        except execution.ExecutionFailed as exc:
            return RecordScore(exact, EXECUTION_ERROR, exc.message)
        if results_agree(rows, gold_rows, ordered=_ordered(gold)):
            return RecordScore(exact, MATCH)
        message = MISMATCH_MESSAGE.format(predicted=len(rows), gold=len(gold_rows))
        return RecordScore(exact, MISMATCH, message)

    def _gold_result(self, gold_sql: str, gold) -> tuple[list, str]:
        if gold_sql not in self._gold:
            self._gold[gold_sql] = self._run_gold(gold_sql, gold)
        return self._gold[gold_sql]

    def _run_gold(self, gold_sql: str, gold) -> tuple[list, str]:
        if gold is None:
            return [], "it does not parse"
        try:
            check_read_only(gold)
            return self._executor.run(gold_sql), ""
        except QueryRefused as exc:
            return [], exc.message
        except execution.ExecutionFailed as exc:
            return [], exc.message
