"""The fast read path of the job resources: a job's body built from its plain row.

A page of 100 jobs through ``FinetuningSerializer`` runs thousands of field objects (one
per golden record id); the body is the same dictionary built directly from the row's
values, the id lists passed through as the database decoded them. The serializer stays
the schema's description of a job and the reference: tests/api/test_job_bodies.py
compares the two byte for byte, so keys, their order and the formats are DRF's.
"""

from django.db.models import QuerySet
from django.utils import timezone

from finetunings.api.evaluation_fields import LatestEvaluationSerializer
from finetunings.api.fields import rendered_datetime
from finetunings.api.serializers import JOB_COLUMN_FIELDS
from finetunings.api.split_serializers import SPLIT_FIELDS
from finetunings.models import FinetuningStatus
from finetunings.prepared import PreparedRead
from finetunings.selectors import finetuning_latest_evaluation_of, finetuning_list, progress_of

# The columns a body is built from (the progress annotations come with the query).
ROW_FIELDS = (
    "id",
    "db_connection_id",
    "alias",
    "status",
    "error",
    "model_provider",
    "model_name",
    "model_parameters",
    *JOB_COLUMN_FIELDS,
    "estimated_finish",
    "trained_tokens",
    "provider_hyperparameters",
    "error_code",
    "error_param",
    "progress_step",
    "progress_total_steps",
    *SPLIT_FIELDS,
)


# The latest evaluation's summary, annotated by ``selectors.with_latest_evaluation``.
EVALUATION = "latest_evaluation_summary"


def finetuning_rows(jobs: QuerySet) -> QuerySet:
    """``jobs`` (from ``selectors.finetuning_list``) as plain rows for ``finetuning_body``."""
    return jobs.values(*ROW_FIELDS, *([EVALUATION] if EVALUATION in jobs.query.annotations else []))


# ``GET /finetunings/{id}``: the same query with the job's id, compiled once per connection.
_ONE_ROW = PreparedRead(
    lambda finetuning_id: finetuning_rows(finetuning_list()).filter(pk=finetuning_id),
    "finetuning_id",
)


def finetuning_row(finetuning_id: str) -> dict | None:
    """The row ``finetuning_body`` needs for one job, or None when there is no such job."""
    return _ONE_ROW.first(finetuning_id=finetuning_id)


def finetuning_body(row: dict) -> dict:
    """What ``FinetuningSerializer`` renders for the job of ``row``, in its field order."""
    error = row["error"]
    trained_tokens = row["trained_tokens"]
    zone = timezone.get_current_timezone()  # once per body: each look-up costs a context read
    return {
        "id": row["id"],
        "db_connection_id": row["db_connection_id"],
        "alias": row["alias"],
        "status": row["status"],
        "error": error,
        "base_llm": {
            "model_provider": row["model_provider"],
            "model_name": row["model_name"],
            "model_parameters": dict(row["model_parameters"] or {}),
        },
        "finetuning_file_id": row["finetuning_file_id"],
        "finetuning_job_id": row["finetuning_job_id"],
        "model_id": row["model_id"],
        "created_at": rendered_datetime(row["created_at"], zone),
        "golden_records": row["golden_records"],
        "metadata": row["metadata"],
        "provider_status": row["provider_status"],
        "status_message": row["status_message"],
        "updated_at": rendered_datetime(row["updated_at"], zone),
        "finished_at": rendered_datetime(row["finished_at"], zone),
        "cancelled_at": rendered_datetime(row["cancelled_at"], zone),
        "cancelled_by": row["cancelled_by"],
        "training_summary": row["training_summary"],
        "progress": progress_of(row["status"], row["progress_step"], row["progress_total_steps"]),
        "estimated_finish": rendered_datetime(row["estimated_finish"], zone),
        "trained_tokens": None if trained_tokens is None else int(trained_tokens),
        "hyperparameters": row["provider_hyperparameters"],
        "error_detail": None
        if not error
        else {"code": row["error_code"], "param": row["error_param"], "message": error},
        **_split(row),
        "evaluation": _evaluation(row),
    }


def _evaluation(row: dict) -> dict | None:
    if EVALUATION in row:
        summary = row[EVALUATION]
    elif row["status"] != FinetuningStatus.SUCCEEDED:
        summary = None  # only a job that succeeded is ever evaluated
    else:
        summary = finetuning_latest_evaluation_of(row["id"])
    return None if summary is None else LatestEvaluationSerializer(summary).data


def _split(row: dict) -> dict:
    fraction, seed = row["validation_fraction"], row["validation_seed"]
    return {
        "validation_golden_records": row["validation_golden_records"],
        "validation_fraction": None if fraction is None else float(fraction),
        "validation_seed": None if seed is None else int(seed),
        "validation_file_id": row["validation_file_id"],
    }


def finetuning_instance_body(job) -> dict:
    """``finetuning_body`` of a job read as a model instance with the progress annotations."""
    row = {name: getattr(job, name) for name in ROW_FIELDS}
    if hasattr(job, EVALUATION):
        row[EVALUATION] = getattr(job, EVALUATION)
    return finetuning_body(row)
