"""The fine-tuning domain's tables, one module per area; every model is importable from here.

Ids are opaque 24-character hex strings (as in the seed documentation), never sequential
integers. State changes do not happen here: they go through ``services``, which keep the
status machine (``finetunings.status``) and write the audit trail.
"""

from finetunings.models.base import NullsFirstIndex, new_id
from finetunings.models.connections import (
    DatabaseConnection,
    DatabaseConnectionQuerySet,
    Dialect,
    GoldenRecord,
)
from finetunings.models.evaluations import (
    EVALUATION_ACTIVE_STATUSES,
    EVALUATION_FINISHED_STATUSES,
    EVALUATION_LIFECYCLE_FIELDS,
    Evaluation,
    EvaluationAnswer,
    EvaluationRecord,
    EvaluationStatus,
    ModelRole,
    Outcome,
)
from finetunings.models.finetunings import Finetuning
from finetunings.models.keys import APIKey, IdempotencyKey, hash_api_key
from finetunings.models.timeline import (
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningMetric,
)
from finetunings.models.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
    all_webhook_event_types,
)
from finetunings.models.workers import ProviderPause, WorkerHeartbeat
from finetunings.status import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    PROVIDER_ACTIVE_STATUSES,
    SUBMITTABLE_STATUSES,
    TERMINAL_STATUSES,
    FinetuningStatus,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ALLOWED_TRANSITIONS",
    "EVALUATION_ACTIVE_STATUSES",
    "EVALUATION_LIFECYCLE_FIELDS",
    "EVALUATION_FINISHED_STATUSES",
    "PROVIDER_ACTIVE_STATUSES",
    "SUBMITTABLE_STATUSES",
    "TERMINAL_STATUSES",
    "APIKey",
    "DatabaseConnection",
    "DatabaseConnectionQuerySet",
    "Dialect",
    "Evaluation",
    "EvaluationAnswer",
    "EvaluationRecord",
    "EvaluationStatus",
    "Finetuning",
    "FinetuningCheckpoint",
    "FinetuningEvent",
    "FinetuningEventKind",
    "FinetuningMetric",
    "FinetuningStatus",
    "GoldenRecord",
    "IdempotencyKey",
    "ModelRole",
    "NullsFirstIndex",
    "Outcome",
    "ProviderPause",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEventType",
    "WorkerHeartbeat",
    "all_webhook_event_types",
    "hash_api_key",
    "new_id",
]
