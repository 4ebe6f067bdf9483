"""The ``evaluation`` field of a job: its latest succeeded evaluation, in brief.

Apart from the evaluation serializers so that the job's serializer can use it without an
import cycle (the evaluation serializers build on the job API's own fields).
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finetunings import selectors
from finetunings.models import ModelRole


class EvaluatedModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    role = serializers.ChoiceField(choices=ModelRole.choices)
    step = serializers.IntegerField(
        allow_null=True, required=False, help_text="The training step of a checkpoint."
    )


class EvaluationExecutionSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Whether queries were run on the database.")
    reason = serializers.CharField(allow_null=True, help_text="Why not, when they were not.")


class EvaluationComparisonSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=["execution_accuracy", "exact_match_accuracy"])
    fine_tuned = serializers.CharField()
    base = serializers.CharField()
    fine_tuned_accuracy = serializers.FloatField(allow_null=True)
    base_accuracy = serializers.FloatField(allow_null=True)
    difference_points = serializers.FloatField(
        allow_null=True, help_text="Fine-tuned minus base, in percentage points."
    )


class LatestModelFiguresSerializer(EvaluatedModelSerializer):
    exact_match_accuracy = serializers.FloatField(allow_null=True)
    execution_accuracy = serializers.FloatField(allow_null=True)


class LatestEvaluationSerializer(serializers.Serializer):
    """What a job shows of its latest succeeded evaluation."""

    evaluation_id = serializers.CharField()
    finished_at = serializers.DateTimeField()
    records = serializers.IntegerField()
    execution = EvaluationExecutionSerializer()
    models = LatestModelFiguresSerializer(many=True)
    comparison = EvaluationComparisonSerializer(allow_null=True)
    headline = serializers.CharField()


@extend_schema_field(LatestEvaluationSerializer(allow_null=True))
class LatestEvaluationField(serializers.Field):
    """A job's latest succeeded evaluation (null before one finishes); no query per job on
    lists (``selectors.with_latest_evaluation``)."""

    def __init__(self, **kwargs):
        kwargs.update(source="*", read_only=True)
        kwargs.setdefault(
            "help_text",
            "The job's latest succeeded evaluation: per-model accuracies and the fine-tuned "
            "model against its base, in points. Null before one has finished.",
        )
        super().__init__(**kwargs)

    def to_representation(self, finetuning):
        summary = selectors.finetuning_latest_evaluation(finetuning)
        return None if summary is None else LatestEvaluationSerializer(summary).data
