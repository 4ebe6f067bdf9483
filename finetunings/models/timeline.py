"""A job's timeline and what its training reported: events, metrics, checkpoints."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from finetunings.models.base import StoredJSONField, new_id
from finetunings.models.finetunings import Finetuning


class FinetuningEventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    METADATA_UPDATED = "metadata_updated", "Metadata updated"
    PROVIDER_EVENT = "provider_event", "Provider event"
    ERROR = "error", "Error"
    WORKER = "worker", "Worker"


class FinetuningEvent(models.Model):
    """One entry in a job's timeline: who did what, when, and from which status to which."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    finetuning = models.ForeignKey(Finetuning, on_delete=models.CASCADE, related_name="events")
    # A provider event keeps the provider's own time (not when the worker happened to read it).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=30, choices=FinetuningEventKind.choices)
    actor = models.CharField(max_length=200, blank=True, default="")
    from_status = models.CharField(max_length=20, null=True, blank=True)
    to_status = models.CharField(max_length=20, null=True, blank=True)
    message = models.TextField(blank=True, default="")
    data = StoredJSONField(null=True, blank=True)
    # Provider events are stored once, however often the worker lists them.
    provider_event_id = models.CharField(max_length=200, null=True, blank=True)
    # The provider's order of its events (its times are whole seconds, so many share one);
    # events read later can be older, so the numbers leave room (see worker.EVENT_GAP_ROOM).
    provider_sequence = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "provider_sequence", "id"]
        verbose_name = "fine-tuning event"
        constraints = [
            models.UniqueConstraint(
                fields=["finetuning", "provider_event_id"],
                condition=Q(provider_event_id__isnull=False),
                name="unique_provider_event_per_finetuning",
            )
        ]
        indexes = [models.Index(fields=["finetuning", "created_at"])]

    def __str__(self) -> str:
        if self.from_status and self.to_status:
            return f"{self.get_kind_display()}: {self.from_status} → {self.to_status}"
        if self.to_status:
            return f"{self.get_kind_display()}: {self.to_status}"
        return self.get_kind_display()


class FinetuningMetric(models.Model):
    """One training step's figures, as the provider reported them (events, result file)."""

    finetuning = models.ForeignKey(Finetuning, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    train_loss = models.FloatField(null=True, blank=True)
    train_mean_token_accuracy = models.FloatField(null=True, blank=True)
    valid_loss = models.FloatField(null=True, blank=True)
    valid_mean_token_accuracy = models.FloatField(null=True, blank=True)
    # Over the whole validation file; the provider reports them for the last step only.
    full_valid_loss = models.FloatField(null=True, blank=True)
    full_valid_mean_token_accuracy = models.FloatField(null=True, blank=True)

    VALUE_FIELDS = (
        "total_steps",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    )

    class Meta:
        ordering = ["finetuning", "step"]
        verbose_name = "training metric"
        constraints = [
            models.UniqueConstraint(fields=["finetuning", "step"], name="unique_metric_step")
        ]

    def __str__(self) -> str:
        return f"step {self.step}"


class FinetuningCheckpoint(models.Model):
    """A model the provider saved during training; its model id can be used like the final."""

    finetuning = models.ForeignKey(Finetuning, on_delete=models.CASCADE, related_name="checkpoints")
    provider_checkpoint_id = models.CharField(max_length=200)
    step = models.PositiveIntegerField()
    model_id = models.CharField("checkpoint model id", max_length=300)
    metrics = StoredJSONField(default=dict, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["finetuning", "step"]
        verbose_name = "checkpoint"
        constraints = [
            models.UniqueConstraint(
                fields=["finetuning", "provider_checkpoint_id"], name="unique_provider_checkpoint"
            )
        ]

    def __str__(self) -> str:
        return self.model_id
