"""An evaluation's figures: per model, per outcome, and the fine-tuned model against its base.

Pure functions over stored answers, so the worker (which writes the summary once, when the
evaluation ends), the API and the admin all read the same numbers and the same sentence.
Accuracies are percentages, rounded to one decimal, as ``finetunings.evaluation.summarize``
counts them: exact match over every record; execution accuracy over the records that were
executed (those skipped, e.g. because the gold query itself fails, are left out; a refused,
invalid or failing answer counts as wrong), and none at all when the connection's queries
are not executed.
"""

from collections.abc import Iterable

from finetunings.evaluation import RecordScore, summarize
from finetunings.evaluation.execution import EXECUTABLE_DIALECTS
from finetunings.models import ModelRole, Outcome

# Why execution accuracy is missing, as the summary and the pages say it.
EXECUTION_OFF_MESSAGE = (
    "exact match only: the connection does not allow evaluation queries (allow_execution)"
)
EXECUTION_DIALECT_MESSAGE = "exact match only: the service cannot run {dialect} queries"


def execution_problem(connection) -> str | None:
    """Why answers on ``connection`` are scored by exact match only (None: they are executed)."""
    if connection.dialect not in EXECUTABLE_DIALECTS:
        return EXECUTION_DIALECT_MESSAGE.format(dialect=connection.get_dialect_display())
    if not connection.allow_execution:
        return EXECUTION_OFF_MESSAGE
    return None


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 1)


def _model_figures(entry: dict, answers: list, records: int, executed: bool) -> dict:
    scores = [RecordScore(bool(a.exact_match), a.outcome or Outcome.INVALID) for a in answers]
    # A record without an answer (none should be left when it finishes) counts as wrong.
    scores += [RecordScore(False, Outcome.INVALID)] * max(0, records - len(scores))
    totals = summarize(scores)
    prompt = sum(answer.prompt_tokens for answer in answers)
    completion = sum(answer.completion_tokens for answer in answers)
    return {
        "model": entry["model"],
        "role": entry["role"],
        "step": entry.get("step"),
        "answered": len(answers),
        "exact_match": totals.exact_matches,
        "exact_match_accuracy": _percent(totals.exact_match_accuracy),
        "execution_match": totals.outcomes[Outcome.MATCH] if executed else None,
        "execution_accuracy": _percent(totals.execution_accuracy) if executed else None,
        "outcomes": totals.outcomes,
        "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
    }


def build_summary(*, evaluation, answers: Iterable, execution_problem: str | None) -> dict:
    """The figures of ``evaluation`` from its answers (any iterable of answer rows)."""
    by_model: dict[str, list] = {model: [] for model in evaluation.model_ids}
    for answer in answers:
        by_model.setdefault(answer.model, []).append(answer)
    executed = execution_problem is None
    records = evaluation.record_count
    models = [
        _model_figures(entry, by_model[entry["model"]], records, executed)
        for entry in evaluation.evaluated_models
    ]
    summary = {
        "evaluation_id": evaluation.pk,
        "records": records,
        "records_source": evaluation.records_source,
        "execution": {"enabled": executed, "reason": execution_problem},
        "models": models,
        "comparison": _comparison(models, executed),
    }
    summary["headline"] = headline(summary)
    return summary


def _comparison(models: list[dict], executed: bool) -> dict | None:
    roles = {figures["role"]: figures for figures in models}
    tuned, base = roles.get(ModelRole.FINE_TUNED), roles.get(ModelRole.BASE)
    if tuned is None or base is None:
        return None
    metric = "execution_accuracy" if executed else "exact_match_accuracy"
    tuned_value, base_value = tuned[metric], base[metric]
    difference = None
    if tuned_value is not None and base_value is not None:
        difference = round(tuned_value - base_value, 1)
    return {
        "metric": metric,
        "fine_tuned": tuned["model"],
        "base": base["model"],
        "fine_tuned_accuracy": tuned_value,
        "base_accuracy": base_value,
        "difference_points": difference,
    }


def _number(value: float) -> str:
    return f"{value:g}"


def headline(summary: dict) -> str:
    """The one sentence: "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10
    held-out records" (or its exact-match form, which says why)."""
    comparison = summary.get("comparison")
    records = summary["records"]
    held_out = "held-out " if summary.get("records_source") == "validation" else ""
    on_records = f"on {records} {held_out}record{'s' if records != 1 else ''}"
    executed = summary["execution"]["enabled"]
    measure = "execution accuracy" if executed else "exact match"
    if comparison is None or comparison["difference_points"] is None:
        parts = []
        for figures in summary["models"]:
            value = figures["execution_accuracy" if executed else "exact_match_accuracy"]
            shown = "-" if value is None else f"{_number(value)}%"
            parts.append(f"{figures['model']}: {shown} {measure}")
        sentence = f"{', '.join(parts)} {on_records}"
    else:
        sentence = (
            f"fine-tuned: {_number(comparison['fine_tuned_accuracy'])}% {measure}, "
            f"base: {_number(comparison['base_accuracy'])}%, "
            f"{comparison['difference_points']:+g} points {on_records}"
        )
    if not executed:
        sentence += f" ({summary['execution']['reason']})"
    return sentence


def disagreements(records: Iterable, model_ids: list[str]) -> list:
    """The records on which the models' outcomes differ (records carry ``answers_by_model``)."""
    picked = []
    for record in records:
        answers = record.answers_by_model
        verdicts = {_verdict(answers.get(model)) for model in model_ids}
        if len(verdicts) > 1:
            picked.append(record)
    return picked


def _verdict(answer) -> bool | None:
    """Right or wrong, by the strictest score there is: execution when it ran, else exact."""
    if answer is None:
        return None
    if answer.outcome in (Outcome.MATCH, Outcome.MISMATCH):
        return answer.outcome == Outcome.MATCH
    if answer.outcome == Outcome.SKIPPED:
        return bool(answer.exact_match)
    return False
