"""Outgoing webhooks: the endpoints told when a job ends, and each delivery's log."""

from django.db import models

from finetunings import crypto
from finetunings.models.base import StoredJSONField, new_id
from finetunings.models.finetunings import Finetuning


class WebhookEventType(models.TextChoices):
    SUCCEEDED = "finetuning.succeeded", "A fine-tuning job succeeded"
    FAILED = "finetuning.failed", "A fine-tuning job failed"
    CANCELLED = "finetuning.cancelled", "A fine-tuning job was cancelled"


def all_webhook_event_types() -> list[str]:
    return list(WebhookEventType.values)


class WebhookEndpoint(models.Model):
    """A URL told when a fine-tuning job ends, with the secret its messages are signed with."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    url = models.URLField(max_length=2000)
    events = StoredJSONField(default=all_webhook_event_types)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint, and how sending it went: the delivery log."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    finetuning = models.ForeignKey(
        Finetuning, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # The Standard Webhooks message id: the same for every attempt, so receivers can dedupe.
    message_id = models.CharField(max_length=40, unique=True)
    payload = StoredJSONField()
    status = models.CharField(
        max_length=20,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # Each job's end is told to each endpoint once (redeliveries reuse the row).
            models.UniqueConstraint(
                fields=["endpoint", "finetuning", "event_type"],
                name="one_delivery_per_endpoint_job_event",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint}"
