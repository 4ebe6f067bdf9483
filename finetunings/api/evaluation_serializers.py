"""Request and response shapes of evaluations (``/finetunings/{id}/evaluations``).

The summary is stored as a dict; the serializers below give it a documented shape in the
OpenAPI schema and show it unchanged.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finetunings import selectors
from finetunings.api.evaluation_fields import (
    EvaluatedModelSerializer,
    EvaluationComparisonSerializer,
    EvaluationExecutionSerializer,
)
from finetunings.api.fields import StrictCharField
from finetunings.models import (
    EVALUATION_LIFECYCLE_FIELDS,
    Evaluation,
    EvaluationStatus,
    Outcome,
)
from finetunings.services import EVALUATION_MODELS_MAX, EVALUATION_RECORDS_MAX


def _optional_strings(*, length: int, count: int, help_text: str) -> serializers.ListField:
    """A list that may be left out or null: the service picks the default then."""
    return serializers.ListField(
        child=StrictCharField(max_length=length),
        max_length=count,
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class EvaluationCreateSerializer(serializers.Serializer):
    golden_records = _optional_strings(
        length=24,
        count=EVALUATION_RECORDS_MAX,
        help_text="Golden record ids of the job's connection to evaluate on; omitted or null "
        f"means the job's validation records. At most {EVALUATION_RECORDS_MAX}.",
    )
    models = _optional_strings(
        length=300,
        count=EVALUATION_MODELS_MAX,
        help_text="Model ids to ask: the job's fine-tuned model, its base model, or a "
        "checkpoint's model id (GET .../checkpoints). Omitted or null means the fine-tuned "
        "model and its base model.",
    )


class EvaluationOutcomeCountsSerializer(serializers.Serializer):
    match = serializers.IntegerField()
    mismatch = serializers.IntegerField()
    invalid = serializers.IntegerField(help_text="Predicted SQL that is not one valid query.")
    refused = serializers.IntegerField(
        help_text="Predicted SQL that is not a single read-only SELECT: never executed."
    )
    execution_error = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Not executed; the answer's message says why.")


class EvaluationTokensSerializer(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    total = serializers.IntegerField()


class ModelFiguresSerializer(EvaluatedModelSerializer):
    answered = serializers.IntegerField()
    exact_match = serializers.IntegerField(help_text="Answers equal to the gold SQL, normalised.")
    exact_match_accuracy = serializers.FloatField(allow_null=True, help_text="Percent of records.")
    execution_match = serializers.IntegerField(allow_null=True)
    execution_accuracy = serializers.FloatField(
        allow_null=True,
        help_text="Percent of the executed records whose query returned the gold query's "
        "rows (records skipped, e.g. because the gold query fails, are left out; refused, "
        "invalid and failing answers count as wrong); null when the connection's queries "
        "are not executed (see execution).",
    )
    outcomes = EvaluationOutcomeCountsSerializer()
    tokens = EvaluationTokensSerializer()


class EvaluationSummarySerializer(serializers.Serializer):
    evaluation_id = serializers.CharField()
    finished_at = serializers.DateTimeField()
    records = serializers.IntegerField()
    records_source = serializers.ChoiceField(choices=["validation", "chosen"])
    execution = EvaluationExecutionSerializer()
    models = ModelFiguresSerializer(many=True)
    comparison = EvaluationComparisonSerializer(
        allow_null=True, help_text="Null unless both the fine-tuned and the base model ran."
    )
    headline = serializers.CharField(
        help_text='e.g. "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10 '
        'held-out records".'
    )


class EvaluationProgressSerializer(serializers.Serializer):
    answered = serializers.IntegerField(help_text="Answers stored (records x models).")
    total = serializers.IntegerField()
    percent = serializers.FloatField()


class EvaluationSerializer(serializers.ModelSerializer):
    finetuning_id = serializers.CharField(read_only=True)
    models = EvaluatedModelSerializer(source="evaluated_models", many=True, read_only=True)
    records = serializers.IntegerField(source="record_count", read_only=True)
    records_source = serializers.ChoiceField(
        choices=["validation", "chosen"],
        read_only=True,
        help_text="validation: the job's held-out records; chosen: the ids the request named.",
    )
    progress = serializers.SerializerMethodField()
    summary = EvaluationSummarySerializer(
        read_only=True, allow_null=True, help_text="Null until the evaluation has succeeded."
    )

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "finetuning_id",
            "status",
            "status_message",
            "error",
            "models",
            "records",
            "records_source",
            "progress",
            "summary",
            *EVALUATION_LIFECYCLE_FIELDS,
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationProgressSerializer)
    def get_progress(self, evaluation) -> dict:
        total = evaluation.total_answers
        answered = min(evaluation.answered_count, total)
        percent = 100.0 if evaluation.status == EvaluationStatus.SUCCEEDED else 0.0
        if total and evaluation.status != EvaluationStatus.SUCCEEDED:
            percent = round(100 * answered / total, 1)
        return {"answered": answered, "total": total, "percent": percent}


class EvaluationAnswerSerializer(serializers.Serializer):
    model = serializers.CharField()
    sql = serializers.CharField(help_text="The SQL found in the model's answer.")
    outcome = serializers.ChoiceField(
        choices=Outcome.choices, allow_null=True, help_text="Null until scored."
    )
    exact_match = serializers.BooleanField(allow_null=True)
    message = serializers.CharField(help_text="Why, for errors and skipped executions.")
    call_error = serializers.CharField(help_text="Set when the model could not be asked.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class EvaluationRecordResultSerializer(serializers.Serializer):
    golden_record_id = serializers.CharField()
    question = serializers.CharField()
    sql = serializers.CharField(help_text="The gold SQL.")
    answers = EvaluationAnswerSerializer(
        many=True, source="ordered_answers", help_text="In the order of the evaluation's models."
    )


class EvaluationDetailSerializer(EvaluationSerializer):
    results = serializers.SerializerMethodField(
        help_text="Per record, in order: the question, the gold SQL and each model's answer "
        "and outcome (answers appear as the worker stores them)."
    )

    class Meta(EvaluationSerializer.Meta):
        fields = [*EvaluationSerializer.Meta.fields, "results"]
        read_only_fields = fields

    @extend_schema_field(EvaluationRecordResultSerializer(many=True))
    def get_results(self, evaluation) -> list:
        records = selectors.evaluation_records(evaluation=evaluation)
        return EvaluationRecordResultSerializer(records, many=True).data
