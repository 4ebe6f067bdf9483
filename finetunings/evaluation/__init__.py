"""Scoring of generated SQL against golden records (see issue 14).

- ``normalize``: exact match of SQL after normalisation in the connection's dialect;
- ``safety``: whether a query is one read-only SELECT (checked on the parsed tree);
- ``execution``: running such a query read-only on PostgreSQL or SQLite;
- ``scoring``: one answer's exact match and outcome (``Scorer``, ``RecordScore``);
- ``run``: asking each model for each record's SQL, with bounded concurrency;
- ``prompt``: the training prompt of each record; ``summary``: totals per model.
"""

from finetunings.evaluation.normalize import InvalidSQL, exact_match, normalized_sql
from finetunings.evaluation.prompt import questions_for
from finetunings.evaluation.run import Answer, Question, RunResult, ask_models
from finetunings.evaluation.safety import QueryRefused, read_only_query
from finetunings.evaluation.scoring import OUTCOMES, RecordScore, Scorer
from finetunings.evaluation.summary import ModelSummary, summarize

__all__ = [
    "OUTCOMES",
    "Answer",
    "InvalidSQL",
    "ModelSummary",
    "Question",
    "QueryRefused",
    "RecordScore",
    "RunResult",
    "Scorer",
    "ask_models",
    "exact_match",
    "normalized_sql",
    "questions_for",
    "read_only_query",
    "summarize",
]
