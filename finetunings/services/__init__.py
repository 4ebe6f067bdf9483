"""Every write and state change of the fine-tuning domain, one module per concern.

Views, the admin and the worker call these functions (as ``services.<name>``) and present
the result; none of them changes a model directly. A status change is always a
conditional update (compare and swap on the current status) that writes its
``FinetuningEvent`` in the same transaction, so two processes can never both win the same
transition.

- ``connections``, ``golden_records``, ``jobs``: what users create and edit
- ``transitions``: the status machine; ``cancel`` (and ``cancel_provider``): the cancel
  algorithm
- ``submission``, ``provider_sync``, ``metrics``, ``leases``: the worker's writes
- ``events``: the one place that writes each kind of timeline event
- ``evaluations``: an evaluation's create and cancel, and the worker's claim and results
- ``api_keys``, ``heartbeats``
"""

from finetunings.services.api_keys import (
    API_KEY_PREFIX,
    api_key_create,
    api_key_revoke,
    api_key_touch,
    api_key_touch_due,
    hash_api_key,
)
from finetunings.services.cancel import (
    METADATA_NOT_STORABLE_MESSAGE,
    CancelOutcome,
    finetuning_cancel,
    finetuning_record_cancel_failed,
)
from finetunings.services.cancel_provider import (
    FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE,
    PROVIDER_METADATA_KEY,
)
from finetunings.services.connections import (
    DATABASE_CONNECTION_EDITABLE_FIELDS,
    database_connection_create,
    database_connection_delete,
    database_connection_update,
)
from finetunings.services.evaluations import (
    EVALUATION_MODELS_MAX,
    EVALUATION_RECORDS_MAX,
    evaluation_cancel,
    evaluation_claim,
    evaluation_create,
    evaluation_fail,
    evaluation_finish,
    evaluation_release,
    evaluation_still_held,
    evaluation_store_answer,
    evaluation_store_score,
)
from finetunings.services.events import WORKER_ACTOR
from finetunings.services.golden_records import (
    GOLDEN_RECORD_EDITABLE_FIELDS,
    golden_record_delete,
    golden_record_update,
    golden_records_create,
    golden_records_create_rows,
)
from finetunings.services.heartbeats import worker_heartbeat_record, worker_heartbeat_remove
from finetunings.services.jobs import (
    FINETUNING_EDITABLE_FIELDS,
    finetuning_create,
    finetuning_create_problems,
    finetuning_delete,
    finetuning_update,
)
from finetunings.services.leases import finetuning_record_polled, finetuning_release
from finetunings.services.metrics import (
    finetuning_metric_rows_from_events,
    finetuning_record_checkpoints_of_batch,
    finetuning_record_result_file,
    metric_values,
    parse_result_file,
)
from finetunings.services.provider_sync import (
    PROVIDER_JOB_GONE_STATUS,
    PROVIDER_PROBLEM_MESSAGE,
    PROVIDER_PROBLEM_PREFIX,
    finetuning_apply_provider_job,
    finetuning_claim_for_refresh,
    finetuning_mark_due,
    finetuning_record_provider_events_of_batch,
    finetuning_record_provider_job_gone,
    finetuning_record_provider_problem,
    provider_pause,
)
from finetunings.services.submission import (
    BUILDING_FILE_MESSAGE,
    LATE_PROVIDER_JOB_FINISHED_MESSAGE,
    LATE_PROVIDER_JOB_STOPPING_MESSAGE,
    ORPHAN_CANCELLED_MESSAGE,
    RETRY_MESSAGE,
    SUBMITTED_MESSAGE,
    SUBMITTING_MESSAGE,
    TRAINING_FILE_BUILT_MESSAGE,
    UPLOADING_FILE_MESSAGE,
    VALIDATION_FILE_BUILT_MESSAGE,
    finetuning_attach_provider_job,
    finetuning_back_off,
    finetuning_claim_for_submission,
    finetuning_clear_create_started,
    finetuning_fail,
    finetuning_mark_create_started,
    finetuning_record_late_provider_job,
    finetuning_record_uploaded_file,
    finetuning_set_waiting_reason,
    finetuning_start_validating,
    finetuning_store_file,
)
from finetunings.services.transitions import finetuning_transition

__all__ = [
    "API_KEY_PREFIX",
    "BUILDING_FILE_MESSAGE",
    "DATABASE_CONNECTION_EDITABLE_FIELDS",
    "EVALUATION_MODELS_MAX",
    "EVALUATION_RECORDS_MAX",
    "FINETUNING_EDITABLE_FIELDS",
    "FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE",
    "GOLDEN_RECORD_EDITABLE_FIELDS",
    "LATE_PROVIDER_JOB_FINISHED_MESSAGE",
    "LATE_PROVIDER_JOB_STOPPING_MESSAGE",
    "METADATA_NOT_STORABLE_MESSAGE",
    "ORPHAN_CANCELLED_MESSAGE",
    "PROVIDER_JOB_GONE_STATUS",
    "PROVIDER_METADATA_KEY",
    "PROVIDER_PROBLEM_MESSAGE",
    "PROVIDER_PROBLEM_PREFIX",
    "RETRY_MESSAGE",
    "SUBMITTED_MESSAGE",
    "SUBMITTING_MESSAGE",
    "TRAINING_FILE_BUILT_MESSAGE",
    "UPLOADING_FILE_MESSAGE",
    "VALIDATION_FILE_BUILT_MESSAGE",
    "WORKER_ACTOR",
    "CancelOutcome",
    "api_key_create",
    "api_key_revoke",
    "api_key_touch",
    "api_key_touch_due",
    "database_connection_create",
    "database_connection_delete",
    "database_connection_update",
    "evaluation_cancel",
    "evaluation_claim",
    "evaluation_create",
    "evaluation_fail",
    "evaluation_finish",
    "evaluation_release",
    "evaluation_still_held",
    "evaluation_store_answer",
    "evaluation_store_score",
    "finetuning_apply_provider_job",
    "finetuning_attach_provider_job",
    "finetuning_back_off",
    "finetuning_cancel",
    "finetuning_claim_for_refresh",
    "finetuning_claim_for_submission",
    "finetuning_clear_create_started",
    "finetuning_create",
    "finetuning_create_problems",
    "finetuning_delete",
    "finetuning_fail",
    "finetuning_mark_create_started",
    "finetuning_mark_due",
    "finetuning_metric_rows_from_events",
    "finetuning_record_cancel_failed",
    "finetuning_record_checkpoints_of_batch",
    "finetuning_record_late_provider_job",
    "finetuning_record_polled",
    "finetuning_record_provider_events_of_batch",
    "finetuning_record_provider_job_gone",
    "finetuning_record_provider_problem",
    "finetuning_record_result_file",
    "finetuning_record_uploaded_file",
    "finetuning_release",
    "finetuning_set_waiting_reason",
    "finetuning_start_validating",
    "finetuning_store_file",
    "finetuning_transition",
    "finetuning_update",
    "golden_record_delete",
    "golden_record_update",
    "golden_records_create",
    "golden_records_create_rows",
    "hash_api_key",
    "metric_values",
    "parse_result_file",
    "provider_pause",
    "worker_heartbeat_record",
    "worker_heartbeat_remove",
]
