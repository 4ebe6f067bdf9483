"""The tables of evaluations: did a fine-tune answer its held-out questions better?

An evaluation asks each of its models (the fine-tuned one, its base model, checkpoints) for
the SQL of each of its golden records, and scores every answer against the record's SQL.
The records are copied in when the evaluation is created (question and gold SQL), so an
evaluation keeps showing what it measured even after its golden records change or go.
Evaluations are never deleted by cancelling; they go only with their job.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from finetunings.models.base import StoredJSONField, new_id
from finetunings.status import lease_is_free

__all__ = [
    "EVALUATION_ACTIVE_STATUSES",
    "EVALUATION_FINISHED_STATUSES",
    "EVALUATION_LIFECYCLE_FIELDS",
    "Evaluation",
    "EvaluationAnswer",
    "EvaluationRecord",
    "EvaluationStatus",
    "ModelRole",
    "Outcome",
]


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


EVALUATION_ACTIVE_STATUSES = (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING)
EVALUATION_FINISHED_STATUSES = (EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED)
# Who started an evaluation and when it moved, in the order the API and the admin show them.
EVALUATION_LIFECYCLE_FIELDS = [
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "cancelled_at",
    "cancelled_by",
]


class EvaluationQuerySet(models.QuerySet):
    """The sets of evaluations the services ask for by name, as jobs' ``FinetuningQuerySet``."""

    def active(self):
        return self.filter(status__in=EVALUATION_ACTIVE_STATUSES)

    def claimable(self, now):
        """Active ones whose lease is free: queued, or a killed worker's to resume."""
        return self.active().filter(lease_is_free("lease_until", now))

    def held_by(self, worker_id: str):
        """Running under ``worker_id``'s lease: the only rows its writes may touch."""
        return self.filter(lease_owner=worker_id, status=EvaluationStatus.RUNNING)

    def succeeded(self):
        return self.filter(status=EvaluationStatus.SUCCEEDED)


class ModelRole(models.TextChoices):
    FINE_TUNED = "fine_tuned", "fine-tuned"
    BASE = "base", "base"
    CHECKPOINT = "checkpoint", "checkpoint"


class Outcome(models.TextChoices):
    """What became of one answer (the values of eval-core's scoring outcomes)."""

    MATCH = "match", "match"
    MISMATCH = "mismatch", "mismatch"
    INVALID = "invalid", "predicted SQL invalid"
    REFUSED = "refused", "refused (not a single read-only SELECT)"
    EXECUTION_ERROR = "execution_error", "execution error"
    SKIPPED = "skipped", "skipped"


class Evaluation(models.Model):
    """One run of a job's models over a set of golden records, and its results."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    finetuning = models.ForeignKey(
        "finetunings.Finetuning",
        on_delete=models.CASCADE,
        related_name="evaluations",
        verbose_name="fine-tuning job",
    )
    status = models.CharField(
        max_length=20, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED
    )
    # [{"model": "<model id>", "role": "fine_tuned"|"base"|"checkpoint", "step": n|None}]
    evaluated_models = StoredJSONField(default=list)
    # "validation": the job's held-out records; "chosen": the ids the request named.
    records_source = models.CharField(max_length=20, default="validation")
    record_count = models.PositiveIntegerField(default=0)
    # Answers stored so far (of record_count x len(models)): the progress, without a count.
    answered_count = models.PositiveIntegerField(default=0)
    # Per-model figures and the fine-tuned-vs-base comparison, written when it finishes.
    summary = StoredJSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    status_message = models.TextField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=200, null=True, blank=True)
    # The worker running it; another may take over once ``lease_until`` has passed.
    lease_owner = models.CharField(max_length=100, null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "evaluation"
        indexes = [
            # A job's evaluations newest first, and its latest one in the job list's
            # subquery: read from the index in order, with no sort (id breaks ties).
            models.Index(fields=["finetuning", "created_at", "id"], name="ft_evaluation_newest"),
            models.Index(
                "created_at",
                name="ft_evaluation_claim",
                condition=Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.id}"

    @property
    def is_active(self) -> bool:
        return self.status in EVALUATION_ACTIVE_STATUSES

    @property
    def model_ids(self) -> list[str]:
        return [entry["model"] for entry in self.evaluated_models or []]

    @property
    def total_answers(self) -> int:
        return self.record_count * len(self.evaluated_models or [])


class EvaluationRecord(models.Model):
    """A golden record as it was when the evaluation started: what the models were asked."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="records")
    position = models.PositiveIntegerField()
    golden_record_id = models.CharField(max_length=24)
    question = models.TextField()
    sql = models.TextField("gold SQL")

    class Meta:
        ordering = ["evaluation", "position"]
        verbose_name = "evaluated record"
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "golden_record_id"], name="unique_evaluated_record"
            )
        ]

    def __str__(self) -> str:
        return self.question[:80]


class EvaluationAnswer(models.Model):
    """One model's answer to one record, and its score (blank until scored)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    record = models.ForeignKey(EvaluationRecord, on_delete=models.CASCADE, related_name="answers")
    model = models.CharField(max_length=300)
    sql = models.TextField(blank=True, default="")
    text = models.TextField(blank=True, default="")  # the model's whole answer
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    # Set when the model could not be asked (after the SDK's retries): nothing to score.
    call_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    exact_match = models.BooleanField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, null=True, blank=True)
    message = models.TextField(blank=True, default="")
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["record__position", "id"]
        verbose_name = "evaluation answer"
        constraints = [
            # A model is asked once per record, however often the run is resumed.
            models.UniqueConstraint(fields=["record", "model"], name="one_answer_per_model")
        ]
        indexes = [
            models.Index(
                fields=["evaluation"],
                name="ft_evaluation_unscored",
                condition=Q(scored_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.outcome or 'not scored'}"
