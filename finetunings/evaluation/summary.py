"""Totals of an evaluation per model: the figures its pages show."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from finetunings.evaluation.scoring import MATCH, OUTCOMES, SKIPPED, RecordScore


@dataclass(frozen=True)
class ModelSummary:
    records: int
    exact_matches: int
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def exact_match_accuracy(self) -> float | None:
        return self.exact_matches / self.records if self.records else None

    @property
    def execution_accuracy(self) -> float | None:
        """Share of records whose results matched, over every record that was not skipped
        (a refused, invalid or failing answer counts as wrong); None when all were skipped."""
        executed = self.records - self.outcomes.get(SKIPPED, 0)
        return self.outcomes.get(MATCH, 0) / executed if executed else None


def summarize(scores: Iterable[RecordScore]) -> ModelSummary:
    scores = list(scores)
    counts = Counter(score.outcome for score in scores)
    return ModelSummary(
        records=len(scores),
        exact_matches=sum(score.exact_match for score in scores),
        outcomes={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
    )
