"""Request and response shapes of the REST API.

Serializers check types and formats only; business rules (limits, existence, ranges,
SQL that parses) are the services' job, so the admin and the API enforce the same ones.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finetunings import selectors, validation
from finetunings.api.evaluation_fields import LatestEvaluationField
from finetunings.api.fields import StrictCharField, golden_record_ids_field
from finetunings.api.split_serializers import SPLIT_FIELDS, SplitFields, SplitRequestFields
from finetunings.errors import ErrorCode
from finetunings.models import (
    DatabaseConnection,
    Dialect,
    Finetuning,
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningMetric,
    FinetuningStatus,
    GoldenRecord,
)

METADATA_HELP = (
    f"String keys to string values: at most {validation.METADATA_MAX_KEYS} keys, keys up to "
    f"{validation.METADATA_MAX_KEY_LENGTH} characters, values up to "
    f"{validation.METADATA_MAX_VALUE_LENGTH}."
)


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "maxProperties": validation.METADATA_MAX_KEYS,
        "additionalProperties": {
            "type": "string",
            "maxLength": validation.METADATA_MAX_VALUE_LENGTH,
        },
    }
)
class MetadataField(serializers.DictField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", METADATA_HELP)
        super().__init__(child=StrictCharField(allow_blank=True, trim_whitespace=False), **kwargs)


# --- Errors (documentation of the one error shape) ---------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A sentence saying what was wrong.")
    code = serializers.CharField(help_text="A stable machine-readable code.")


class ValidationErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Messages per field; nested fields are dotted ("base_llm.model_name"). '
        f"Absent when the body could not be read at all (code {ErrorCode.PARSE_ERROR}).",
    )


class NotCancellableErrorSerializer(ErrorSerializer):
    status = serializers.ChoiceField(
        choices=FinetuningStatus.choices, help_text="The job's status now."
    )


# --- Database connections -----------------------------------------------------------------

CONNECTION_URI_HELP = (
    "scheme://user:password@host:port/database?parameters, with a scheme that fits the "
    "dialect (postgresql:// or postgres:// for postgresql, mysql:// for mysql, "
    "mssql+pyodbc:// for mssql, ...; a +driver suffix is allowed). Several hosts are "
    "separated by commas (libpq's host1:5432,host2:5432). Percent-encode special "
    "characters in the password. Encrypted at rest and never returned; see "
    "masked_connection_uri."
)


class DatabaseConnectionSerializer(serializers.ModelSerializer):
    alias = StrictCharField(max_length=100)
    dialect = serializers.ChoiceField(choices=Dialect.choices)
    connection_uri = StrictCharField(
        write_only=True,
        max_length=2000,
        help_text=CONNECTION_URI_HELP,
    )
    masked_connection_uri = serializers.CharField(
        read_only=True,
        help_text="The connection URI showing only its scheme, hosts, ports and database "
        "(user name, password and query parameter values are ***).",
    )
    schema = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=validation.SCHEMA_MAX_LENGTH,
        help_text="The tables the model must know (DDL and descriptions).",
    )
    metadata = MetadataField()

    class Meta:
        model = DatabaseConnection
        fields = [
            "id",
            "alias",
            "dialect",
            "connection_uri",
            "masked_connection_uri",
            "schema",
            "metadata",
            "allow_execution",
            "created_at",
        ]


class DatabaseConnectionUpdateSerializer(DatabaseConnectionSerializer):
    """PUT and PATCH: the write-only URI may be left out, so a GET-then-PUT round trip
    need not resend the secret."""

    connection_uri = StrictCharField(
        write_only=True,
        required=False,
        max_length=2000,
        help_text=f"{CONNECTION_URI_HELP} Leave it out to keep the stored one.",
    )


# --- Golden records -------------------------------------------------------------------------


class GoldenRecordSerializer(serializers.ModelSerializer):
    db_connection_id = StrictCharField(max_length=24)
    question = StrictCharField(max_length=validation.QUESTION_MAX_LENGTH)
    sql = StrictCharField(max_length=validation.SQL_MAX_LENGTH, trim_whitespace=False)
    metadata = MetadataField()

    class Meta:
        model = GoldenRecord
        fields = [
            "id",
            "db_connection_id",
            "question",
            "sql",
            "metadata",
            "external_id",
            "created_at",
        ]
        # Set by an import; a later import naming it updates the record.
        read_only_fields = ["external_id"]


GOLDEN_RECORDS_BULK_MAX = 10_000


# --- Fine-tuning jobs -----------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}],
        "description": 'A number, a numeric string such as "3", or "auto".',
    }
)
class ModelParameterValueField(serializers.Field):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise serializers.ValidationError('Must be a number, a numeric string or "auto".')
        return data

    def to_representation(self, value):
        return value


class ModelParametersSerializer(serializers.Serializer):
    n_epochs = ModelParameterValueField(required=False, help_text="1 to 50, or auto.")
    batch_size = ModelParameterValueField(required=False, help_text="1 to 256, or auto.")
    learning_rate_multiplier = ModelParameterValueField(
        required=False, help_text="Above 0 and at most 10, or auto."
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = validation.unknown_model_parameters(data)
            if unknown:
                raise serializers.ValidationError(
                    {name: [validation.UNKNOWN_MODEL_PARAMETER] for name in unknown}
                )
        return super().to_internal_value(data)

    def to_representation(self, instance):
        return dict(instance or {})


class BaseLLMSerializer(serializers.Serializer):
    model_provider = StrictCharField(required=False, help_text="Only openai for now.")
    model_name = StrictCharField(required=False, help_text="A base model that can be tuned.")
    model_parameters = ModelParametersSerializer(required=False, allow_null=True)


class ProgressSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text="The latest step the provider reported.")
    total_steps = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(
        allow_null=True, help_text="0 to 100; 100 once the job succeeded. Null: total unknown."
    )


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(allow_null=True, help_text="The provider's error code.")
    param = serializers.CharField(
        allow_null=True, help_text="The input the provider's error is about."
    )
    message = serializers.CharField()


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "string"}]},
        "example": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
    }
)
class HyperparametersField(serializers.JSONField):
    pass


# The job's columns a body shows under their own names, in ``FinetuningSerializer``'s order
# (``job_bodies`` reads the same ones from the row).
JOB_COLUMN_FIELDS = [
    "finetuning_file_id",
    "finetuning_job_id",
    "model_id",
    "created_at",
    "golden_records",
    "metadata",
    "provider_status",
    "status_message",
    "updated_at",
    "finished_at",
    "cancelled_at",
    "cancelled_by",
    "training_summary",
]


class FinetuningSerializer(SplitFields, serializers.ModelSerializer):
    db_connection_id = serializers.CharField(read_only=True)
    base_llm = BaseLLMSerializer(read_only=True)
    golden_records = serializers.ListField(child=serializers.CharField(), read_only=True)
    metadata = MetadataField(read_only=True)
    training_summary = serializers.JSONField(
        read_only=True,
        help_text="Once the training file is built: examples, tokens, estimated billed tokens, "
        "and how tokens were counted (tiktoken, or a labelled estimate offline).",
    )
    progress = serializers.SerializerMethodField(
        help_text="How far the training is, from the provider's step metrics; null before "
        "the first step is reported."
    )
    estimated_finish = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the provider expects the job to finish (its last estimate).",
    )
    trained_tokens = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Billed tokens the provider has trained on."
    )
    hyperparameters = HyperparametersField(
        source="provider_hyperparameters",
        read_only=True,
        help_text='As the provider resolved them ("auto" replaced by the values used).',
    )
    error_detail = serializers.SerializerMethodField(
        help_text="The failure as the provider described it (code, param, message); null "
        "when the job has no error. ``error`` keeps the message alone."
    )
    evaluation = LatestEvaluationField()

    class Meta:
        model = Finetuning
        fields = [
            "id",
            "db_connection_id",
            "alias",
            "status",
            "error",
            "base_llm",
            *JOB_COLUMN_FIELDS,
            "progress",
            "estimated_finish",
            "trained_tokens",
            "hyperparameters",
            "error_detail",
            *SPLIT_FIELDS,
            "evaluation",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer(allow_null=True))
    def get_progress(self, finetuning) -> dict | None:
        return selectors.finetuning_progress(finetuning)

    @extend_schema_field(ErrorDetailSerializer(allow_null=True))
    def get_error_detail(self, finetuning) -> dict | None:
        if not finetuning.error:
            return None
        return {
            "code": finetuning.error_code,
            "param": finetuning.error_param,
            "message": finetuning.error,
        }


class FinetuningCreateSerializer(SplitRequestFields):
    db_connection_id = StrictCharField(max_length=24)
    alias = StrictCharField(
        required=False,
        allow_null=True,
        max_length=200,
        help_text="Defaults to <connection alias>_<YYYYMMDDHH>.",
    )
    base_llm = BaseLLMSerializer(required=False, allow_null=True)
    golden_records = golden_record_ids_field(
        "Golden record ids; omitted or null means every golden record of the "
        "connection at creation time. At least 10."
    )
    metadata = MetadataField()


class FinetuningUpdateSerializer(serializers.Serializer):
    alias = StrictCharField(required=False, max_length=200)
    metadata = MetadataField()


class FinetuningCancelSerializer(serializers.Serializer):
    finetuning_id = StrictCharField(
        required=False, help_text="If given, must equal the id in the path."
    )
    metadata = MetadataField(help_text="Merged into the job's metadata (same limits).")


class FinetuningEventSerializer(serializers.ModelSerializer):
    data = serializers.JSONField(read_only=True)

    class Meta:
        model = FinetuningEvent
        fields = [
            "id",
            "created_at",
            "kind",
            "actor",
            "from_status",
            "to_status",
            "message",
            "data",
            "provider_event_id",
        ]
        read_only_fields = fields


class FinetuningMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = FinetuningMetric
        fields = ["step", *FinetuningMetric.VALUE_FIELDS]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "example": {"step": 100, "train_loss": 0.21, "train_mean_token_accuracy": 0.93},
    }
)
class CheckpointMetricsField(serializers.JSONField):
    pass


class FinetuningCheckpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="provider_checkpoint_id", read_only=True)
    model_id = serializers.CharField(
        read_only=True, help_text="The checkpoint's model id: usable like the final model."
    )
    metrics = CheckpointMetricsField(read_only=True, help_text="The figures at that step.")

    class Meta:
        model = FinetuningCheckpoint
        fields = ["id", "step", "model_id", "metrics", "created_at"]
        read_only_fields = fields
