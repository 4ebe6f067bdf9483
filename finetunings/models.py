"""The fine-tuning domain's tables.

Ids are opaque 24-character hex strings (as in the seed documentation), never sequential
integers. State changes do not happen here: they go through ``services``, which keep the
status machine below and write the audit trail.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.backends.ddl_references import Statement
from django.db.models import Q
from django.utils import timezone

from finetunings import crypto, validation
from finetunings.hygiene import StoredJSONDecoder


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
    metadata = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)
    # Whether evaluations may run SQL on this database (read-only, with a timeout and a row
    # cap); off, they score by exact match only. Off by default: it is the owner's database.
    allow_execution = models.BooleanField(
        "allow evaluation queries",
        default=False,
        help_text="Let evaluations run the gold and the generated SELECTs on this database "
        "(read-only transaction, statement timeout, row cap) to compare their results. "
        "Off: evaluations score by exact match of the SQL only.",
    )
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
        """The URI showing only its scheme, hosts, ports and database (see validation)."""
        return validation.mask_connection_uri(self.connection_uri)


class GoldenRecord(models.Model):
    """A verified pair of a natural-language question and the SQL that answers it."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    db_connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="golden_records"
    )
    question = models.TextField()
    sql = models.TextField()
    metadata = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)
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
# What one of our jobs must look like for the worker to submit it.
SUBMITTABLE_STATUSES = (FinetuningStatus.QUEUED, FinetuningStatus.VALIDATING_FILES)
# Provider statuses of a job that still runs (and costs money) at the provider.
PROVIDER_ACTIVE_STATUSES = ("validating_files", "queued", "running")

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


class NullsFirstIndex(models.Index):
    """An index with ``NULLS FIRST`` columns, also on SQLite.

    SQLite refuses the modifier in an index but sorts NULLs first in ascending order anyway,
    so there it is left out and the index serves the same ``ORDER BY``.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        statement = super().create_sql(model, schema_editor, using=using, **kwargs)
        if schema_editor.connection.vendor == "sqlite":
            # Still a Statement, not a string: SQLite rebuilds a table under a temporary name
            # and then renames the table references of its pending index statements.
            return _WithoutNullsFirst(statement.template, **statement.parts)
        return statement


class _WithoutNullsFirst(Statement):
    def __str__(self) -> str:
        return super().__str__().replace(" NULLS FIRST", "")


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
    model_parameters = models.JSONField(decoder=StoredJSONDecoder, default=dict, blank=True)

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
    golden_records = models.JSONField(decoder=StoredJSONDecoder, default=list)
    metadata = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=200, null=True, blank=True)

    # Why a job is waiting (no provider key, provider unreachable, ...), for people to read.
    status_message = models.TextField(null=True, blank=True)

    # One process at a time may cancel at the provider; the lease expires if it dies mid-call.
    cancel_lease_until = models.DateTimeField(null=True, blank=True)
    # The user's cancel while it is in flight at the provider: who, when, their metadata.
    # Written with the lease, before the provider is asked, so that a cancel the provider
    # accepted but the database failed to record (a dropped connection, a restart) is still
    # recorded as the user's, with these details, by the next retry or worker refresh.
    cancel_request = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)

    # Worker bookkeeping: who holds the job, until when, and when to try again.
    lease_owner = models.CharField(max_length=100, null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the refresh last asked the provider about the job; NULL means "due now" (never
    # polled, or a webhook said it changed). The refresh takes the oldest first.
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Where reading the provider's events stands (see worker.fetch_new_events): the newest
    # stored event and, when a per-pass budget cut a read short, the gap still to fill.
    provider_events_cursor = models.JSONField(
        decoder=StoredJSONDecoder, null=True, blank=True, editable=False
    )
    # Set just before the provider is asked to create the job: an attempt that finds it set
    # may have created one already (a lost response, a killed worker) and must look first.
    provider_create_started_at = models.DateTimeField(null=True, blank=True)

    # The exact JSONL the job trains on (served by the training-file route), and its summary.
    training_file = models.FileField(upload_to="training-files/", null=True, blank=True)
    training_file_sha256 = models.CharField(max_length=64, null=True, blank=True)
    training_file_size = models.BigIntegerField(null=True, blank=True)
    training_summary = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)

    # What the provider reports about the training itself (kept from every refresh).
    trained_tokens = models.BigIntegerField(null=True, blank=True)
    estimated_finish = models.DateTimeField(null=True, blank=True)
    # The hyperparameters as the provider resolved them (``"auto"`` replaced by numbers).
    provider_hyperparameters = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)
    error_code = models.CharField(max_length=100, null=True, blank=True)
    error_param = models.CharField(max_length=200, null=True, blank=True)

    # --- The validation split (see finetunings.validation_split) ---
    # Ids of the held-out golden records, never also in ``golden_records``; fixed at creation.
    validation_golden_records = models.JSONField(
        decoder=StoredJSONDecoder, default=list, blank=True
    )
    # Set when the split was drawn from a fraction: with the seed, it repeats the split.
    validation_fraction = models.FloatField(null=True, blank=True)
    validation_seed = models.BigIntegerField(null=True, blank=True)
    validation_file_id = models.CharField(
        "provider's validation file id", max_length=200, null=True, blank=True
    )
    # The exact validation JSONL (served by the validation-file route), as for training.
    validation_file = models.FileField(upload_to="validation-files/", null=True, blank=True)
    validation_file_sha256 = models.CharField(max_length=64, null=True, blank=True)
    validation_file_size = models.BigIntegerField(null=True, blank=True)
    validation_summary = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "fine-tuning job"
        permissions = [("cancel_finetuning", "Can cancel fine-tuning jobs")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["db_connection", "status"]),
            models.Index(fields=["model_provider", "created_at"]),
            # One partial index per worker query: each covers only the few rows the query
            # can return, so a history of millions of finished jobs costs it nothing.
            models.Index(
                "created_at",
                name="ft_submission_claim",
                condition=Q(
                    status__in=sorted(SUBMITTABLE_STATUSES), finetuning_job_id__isnull=True
                ),
            ),
            NullsFirstIndex(
                models.F("last_polled_at").asc(nulls_first=True),
                models.F("created_at").desc(),
                name="ft_refresh_claim",
                condition=Q(status__in=sorted(ACTIVE_STATUSES), finetuning_job_id__isnull=False),
            ),
            models.Index(
                "provider_create_started_at",
                name="ft_orphan_create_sweep",
                condition=Q(
                    status=FinetuningStatus.CANCELLED,
                    finetuning_job_id__isnull=True,
                    provider_create_started_at__isnull=False,
                ),
            ),
            models.Index(
                "provider_status",
                name="ft_orphan_running_sweep",
                condition=Q(
                    status__in=sorted(TERMINAL_STATUSES),
                    finetuning_job_id__isnull=False,
                    provider_status__in=sorted(PROVIDER_ACTIVE_STATUSES),
                ),
            ),
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
    # A provider event keeps the provider's own time (not when the worker happened to read it).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=30, choices=FinetuningEventKind.choices)
    actor = models.CharField(max_length=200, blank=True, default="")
    from_status = models.CharField(max_length=20, null=True, blank=True)
    to_status = models.CharField(max_length=20, null=True, blank=True)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)
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
    metrics = models.JSONField(decoder=StoredJSONDecoder, default=dict, blank=True)
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


class WorkerHeartbeat(models.Model):
    """The last time each fine-tuning worker finished a pass (or started); /readyz reads it.

    Written once per pass by the worker command, deleted when the worker stops cleanly; a
    killed worker's row simply grows old.
    """

    worker_id = models.CharField(primary_key=True, max_length=100)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"


class ProviderPause(models.Model):
    """A provider asked every caller to wait (429 with Retry-After) until ``paused_until``.

    Kept in the database so that every worker process honours it, not only the one that
    was told.
    """

    provider = models.CharField(primary_key=True, max_length=30)
    paused_until = models.DateTimeField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "provider pause"

    def __str__(self) -> str:
        return f"{self.provider} paused until {self.paused_until:%Y-%m-%d %H:%M:%S}"


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
    response_body = models.JSONField(decoder=StoredJSONDecoder, null=True, blank=True)
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
    events = models.JSONField(decoder=StoredJSONDecoder, default=all_webhook_event_types)
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
    payload = models.JSONField(decoder=StoredJSONDecoder)
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


# Evaluations live in their own module; imported here so Django registers their models.
from finetunings.evaluation_models import *  # noqa: E402, F403
