"""The fine-tuning job: what it trains on, and where the provider's job stands.

Its status vocabulary and named querysets live in ``finetunings.status``.
"""

from django.db import models
from django.db.models import Q

from finetunings.models.base import NullsFirstIndex, StoredJSONField, new_id
from finetunings.models.connections import DatabaseConnection
from finetunings.status import (
    ACTIVE_STATUSES,
    PROVIDER_ACTIVE_STATUSES,
    SUBMITTABLE_STATUSES,
    TERMINAL_STATUSES,
    FinetuningQuerySet,
    FinetuningStatus,
)


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
    model_parameters = StoredJSONField(default=dict, blank=True)

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
    golden_records = StoredJSONField(default=list)
    metadata = StoredJSONField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=200, null=True, blank=True)

    # Why a job is waiting (no provider key, provider unreachable, ...), for people to read.
    status_message = models.TextField(null=True, blank=True)

    # One process at a time may cancel a job (here or at the provider); the lease expires if
    # that process dies mid-cancel.
    cancel_lease_until = models.DateTimeField(null=True, blank=True)
    # The user's cancel while it is in flight at the provider: who, when, their metadata.
    # Written with the lease, before the provider is asked, so that a cancel the provider
    # accepted but the database failed to record (a dropped connection, a restart) is still
    # recorded as the user's, with these details, by the next retry or worker refresh.
    cancel_request = StoredJSONField(null=True, blank=True)

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
    provider_events_cursor = StoredJSONField(null=True, blank=True, editable=False)
    # Set just before the provider is asked to create the job: an attempt that finds it set
    # may have created one already (a lost response, a killed worker) and must look first.
    provider_create_started_at = models.DateTimeField(null=True, blank=True)

    # The exact JSONL the job trains on (served by the training-file route), and its summary.
    training_file = models.FileField(upload_to="training-files/", null=True, blank=True)
    training_file_sha256 = models.CharField(max_length=64, null=True, blank=True)
    training_file_size = models.BigIntegerField(null=True, blank=True)
    training_summary = StoredJSONField(null=True, blank=True)

    # The validation split (see finetunings.validation_split): the held-out golden records,
    # never also in ``golden_records`` and fixed at creation, and their file, kept and
    # served (the validation-file route) as the training file is.
    validation_golden_records = StoredJSONField(default=list, blank=True)
    # Set when the split was drawn from a fraction: with the seed, it repeats the split.
    validation_fraction = models.FloatField(null=True, blank=True)
    validation_seed = models.BigIntegerField(null=True, blank=True)
    validation_file_id = models.CharField(
        "provider's validation file id", max_length=200, null=True, blank=True
    )
    validation_file = models.FileField(upload_to="validation-files/", null=True, blank=True)
    validation_file_sha256 = models.CharField(max_length=64, null=True, blank=True)
    validation_file_size = models.BigIntegerField(null=True, blank=True)
    validation_summary = StoredJSONField(null=True, blank=True)

    # What the provider reports about the training itself (kept from every refresh).
    trained_tokens = models.BigIntegerField(null=True, blank=True)
    estimated_finish = models.DateTimeField(null=True, blank=True)
    # The hyperparameters as the provider resolved them (``"auto"`` replaced by numbers).
    provider_hyperparameters = StoredJSONField(null=True, blank=True)
    error_code = models.CharField(max_length=100, null=True, blank=True)
    error_param = models.CharField(max_length=200, null=True, blank=True)

    objects = FinetuningQuerySet.as_manager()

    # The files a job keeps, by kind: ``<kind>_file`` (saved under ``<kind>-files/``) with
    # its checksum, size and summary, and here the field of the provider's id of its upload.
    KEPT_FILES = {"training": "finetuning_file_id", "validation": "validation_file_id"}

    # What weighs most on a row (up to 100,000 golden record ids, twice) and what lists,
    # cancels and notifications never read: ``Finetuning.objects.without_long_lists()``.
    LONG_FIELDS = (
        "golden_records",
        "training_summary",
        "validation_golden_records",
        "validation_summary",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "fine-tuning job"
        permissions = [("cancel_finetuning", "Can cancel fine-tuning jobs")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["db_connection", "status"]),
            models.Index(fields=["model_provider", "created_at"]),
            # The API's list, newest first, within a connection or a status.
            models.Index(
                fields=["db_connection", "-created_at", "-id"], name="ft_connection_newest"
            ),
            models.Index(fields=["status", "-created_at", "-id"], name="ft_status_newest"),
            # The admin's exact id searches (ours and the provider's job id have theirs).
            models.Index(fields=["finetuning_file_id"], name="ft_file_id"),
            models.Index(fields=["model_id"], name="ft_model_id"),
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

    def kept_file_name(self, kind: str) -> str:
        """The name a kept file is served and uploaded under (see ``KEPT_FILES``)."""
        return f"{self.pk}.jsonl" if kind == "training" else f"{self.pk}-{kind}.jsonl"

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
