"""The fine-tuning domain's tables.

Ids are opaque 24-character hex strings (as in the seed documentation), never sequential
integers. State changes do not happen here: they go through ``services``, which keep the
status machine below and write the audit trail.
"""

import re
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import models
from django.db.models import Q

from finetunings import crypto

# Query parameters of a connection URI whose values are secrets (password=, sslkey=, ...).
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.I)


def new_id() -> str:
    return secrets.token_hex(12)


class Dialect(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    SQLITE = "sqlite", "SQLite"
    SNOWFLAKE = "snowflake", "Snowflake"
    BIGQUERY = "bigquery", "BigQuery"
    MSSQL = "mssql", "Microsoft SQL Server"
    REDSHIFT = "redshift", "Amazon Redshift"
    DATABRICKS = "databricks", "Databricks"
    ORACLE = "oracle", "Oracle"
    DUCKDB = "duckdb", "DuckDB"
    CLICKHOUSE = "clickhouse", "ClickHouse"


class DatabaseConnectionQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class DatabaseConnection(models.Model):
    """A database whose questions a fine-tuned model will answer.

    Deleting one keeps the row (its fine-tuning jobs are history that must keep pointing
    somewhere) but wipes its secret, frees its alias and removes its golden records.
    """

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    alias = models.CharField(max_length=100)
    dialect = models.CharField(max_length=20, choices=Dialect.choices)
    connection_uri_encrypted = models.TextField(blank=True, default="", editable=False)
    schema = models.TextField(
        blank=True,
        default="",
        help_text="DDL and descriptions of the tables; included in every training example.",
    )
    metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = DatabaseConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "database connection"
        constraints = [
            models.UniqueConstraint(
                fields=["alias"],
                condition=Q(deleted_at__isnull=True),
                name="unique_alias_of_live_connection",
            )
        ]

    def __str__(self) -> str:
        return self.alias

    @property
    def connection_uri(self) -> str:
        if not self.connection_uri_encrypted:
            return ""
        return crypto.decrypt(self.connection_uri_encrypted)

    @connection_uri.setter
    def connection_uri(self, value: str) -> None:
        self.connection_uri_encrypted = crypto.encrypt(value) if value else ""

    @property
    def masked_connection_uri(self) -> str:
        """The URI with its secrets (password, secret-looking parameters) shown as ``***``."""
        uri = self.connection_uri
        if not uri:
            return ""
        try:
            parts = urlsplit(uri)
        except ValueError:
            return "***"  # not a URI we can take apart, so nothing of it is shown
        userinfo, at, host = parts.netloc.rpartition("@")
        if at and ":" in userinfo:
            userinfo = f"{userinfo.split(':', 1)[0]}:***"
        query = urlencode(
            [
                (name, "***" if SECRET_PARAMETER.search(name) else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*",
        )
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}", query=query, fragment=""))


class GoldenRecord(models.Model):
    """A verified pair of a natural-language question and the SQL that answers it."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    db_connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="golden_records"
    )
    question = models.TextField()
    sql = models.TextField()
    metadata = models.JSONField(null=True, blank=True)
    # The record's id where it was kept before (a spreadsheet row, Dataherald's id): an
    # import that names it again updates this record instead of adding a duplicate.
    external_id = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "golden record"
        indexes = [models.Index(fields=["db_connection", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["db_connection", "external_id"],
                condition=Q(external_id__isnull=False),
                name="unique_external_id_per_connection",
            )
        ]

    def __str__(self) -> str:
        return self.question[:80]


class FinetuningStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    VALIDATING_FILES = "validating_files", "Validating files"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = frozenset(
    {FinetuningStatus.QUEUED, FinetuningStatus.VALIDATING_FILES, FinetuningStatus.RUNNING}
)
TERMINAL_STATUSES = frozenset(
    {FinetuningStatus.SUCCEEDED, FinetuningStatus.FAILED, FinetuningStatus.CANCELLED}
)

# The status machine: from -> the statuses it may move to. An active job may move to any
# other status (the provider reports queued/validating_files/running in any order, and a
# job may end from any of them); nothing leaves a terminal status.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    FinetuningStatus.QUEUED: frozenset(FinetuningStatus.values) - {FinetuningStatus.QUEUED},
    FinetuningStatus.VALIDATING_FILES: frozenset(FinetuningStatus.values)
    - {FinetuningStatus.VALIDATING_FILES},
    FinetuningStatus.RUNNING: frozenset(FinetuningStatus.values) - {FinetuningStatus.RUNNING},
    FinetuningStatus.SUCCEEDED: frozenset(),
    FinetuningStatus.FAILED: frozenset(),
    FinetuningStatus.CANCELLED: frozenset(),
}


def statuses_that_may_become(status: str) -> list[str]:
    return sorted(source for source, targets in ALLOWED_TRANSITIONS.items() if status in targets)


class Finetuning(models.Model):
    """A fine-tuning job: what to train on, and where the provider's job stands."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    db_connection = models.ForeignKey(
        DatabaseConnection,
        on_delete=models.PROTECT,
        related_name="finetunings",
        verbose_name="database connection",
    )
    alias = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=FinetuningStatus.choices, default=FinetuningStatus.QUEUED
    )
    error = models.TextField(null=True, blank=True)

    model_provider = models.CharField(max_length=30, default="openai")
    model_name = models.CharField(max_length=100)
    model_parameters = models.JSONField(default=dict, blank=True)

    finetuning_file_id = models.CharField(
        "provider's training file id", max_length=200, null=True, blank=True
    )
    finetuning_job_id = models.CharField(
        "provider's job id", max_length=200, null=True, blank=True, db_index=True
    )
    model_id = models.CharField("fine-tuned model id", max_length=200, null=True, blank=True)
    # The provider's own status string, kept verbatim: one we do not know is not terminal.
    provider_status = models.CharField(max_length=50, null=True, blank=True)

    # Ids of the golden records at creation time; never changed afterwards.
    golden_records = models.JSONField(default=list)
    metadata = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=200, null=True, blank=True)

    # Why a job is waiting (no provider key, provider unreachable, ...), for people to read.
    status_message = models.TextField(null=True, blank=True)

    # One process at a time may cancel at the provider; the lease expires if it dies mid-call.
    cancel_lease_until = models.DateTimeField(null=True, blank=True)

    # Worker bookkeeping: who holds the job, until when, and when to try again.
    lease_owner = models.CharField(max_length=100, null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Set just before the provider is asked to create the job: an attempt that finds it set
    # may have created one already (a lost response, a killed worker) and must look first.
    provider_create_started_at = models.DateTimeField(null=True, blank=True)

    # The exact JSONL the job trains on (served by the training-file route), and its summary.
    training_file = models.FileField(upload_to="training-files/", null=True, blank=True)
    training_file_sha256 = models.CharField(max_length=64, null=True, blank=True)
    training_file_size = models.BigIntegerField(null=True, blank=True)
    training_summary = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "fine-tuning job"
        permissions = [("cancel_finetuning", "Can cancel fine-tuning jobs")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["db_connection", "status"]),
            models.Index(fields=["model_provider", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.alias} ({self.id})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def base_llm(self) -> dict:
        return {
            "model_provider": self.model_provider,
            "model_name": self.model_name,
            "model_parameters": self.model_parameters or {},
        }


class FinetuningEventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    METADATA_UPDATED = "metadata_updated", "Metadata updated"
    PROVIDER_EVENT = "provider_event", "Provider event"
    ERROR = "error", "Error"
    WORKER = "worker", "Worker"


class FinetuningEvent(models.Model):
    """One entry in a job's timeline: who did what, when, and from which status to which."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    finetuning = models.ForeignKey(Finetuning, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=30, choices=FinetuningEventKind.choices)
    actor = models.CharField(max_length=200, blank=True, default="")
    from_status = models.CharField(max_length=20, null=True, blank=True)
    to_status = models.CharField(max_length=20, null=True, blank=True)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(null=True, blank=True)
    # Provider events are stored once, however often the worker lists them.
    provider_event_id = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
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


class APIKey(models.Model):
    """A key for the REST API. Only a SHA-256 hash of the key is stored.

    Keys are 256-bit random strings, so a fast hash is enough: there is nothing to guess.
    The prefix is kept in clear to find the row and to tell keys apart in the admin.
    """

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the first answer given to it, kept for a day.

    Keys are scoped to their caller (an API key or a staff user), so two clients can never
    read each other's answers by guessing a key. ``request_fingerprint`` tells a retry (the
    same request again) from a different request that reuses the key by mistake.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    # Empty while the first request is still being answered.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # A request that died mid-way leaves its key locked only until then.
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="unique_idempotency_key_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.scope})"


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
    events = models.JSONField(default=all_webhook_event_types)
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
    payload = models.JSONField()
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
