"""``/finetunings/{id}/evaluations``: start, list, read and cancel a job's evaluations.

Thin: the body is checked for types here, every rule (a succeeded job, records of the job's
connection, models of the job) is ``services.evaluations``', and its errors become the
API's one error shape in ``api.exceptions``.
"""

from http import HTTPStatus

from django.urls import re_path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from finetunings import selectors, services
from finetunings.api import evaluation_serializers as shapes
from finetunings.api import serializers
from finetunings.api.authentication import actor_for
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.views.common import (
    AUTH_ERRORS,
    BAD_REQUEST,
    NOT_FOUND,
    found_or_404,
    not_cancellable_example,
)
from finetunings.errors import ErrorCode
from finetunings.models import Evaluation

CREATE_DESCRIPTION = (
    "Queue an evaluation of a succeeded job: the worker asks each model for the SQL of each "
    "golden record, with exactly the prompt the training file used, and scores every answer "
    "by exact match of the normalised SQL and, when the connection allows evaluation "
    "queries (allow_execution; PostgreSQL and SQLite), by running the gold and the "
    "predicted query read-only and comparing their rows. 400 with code "
    f"{ErrorCode.FINETUNING_NOT_SUCCEEDED} for a job that has not succeeded, "
    f"{ErrorCode.NO_VALIDATION_RECORDS} when the body names no records and "
    "the job has no validation records, and invalid for unknown records or models."
)
CREATE_EXAMPLE = OpenApiExample(
    "The fine-tuned and the base model on the job's validation records", value={}
)
NOT_CANCELLABLE_EXAMPLE = not_cancellable_example(
    "The evaluation has already succeeded",
    "The evaluation has already succeeded and cannot be cancelled.",
    ErrorCode.EVALUATION_NOT_CANCELLABLE,
)


class EvaluationNotCancellableSerializer(serializers.ErrorSerializer):
    status = drf_serializers.CharField(help_text="The evaluation's status now.")


class EvaluationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """A job's evaluations: how its fine-tuned model answers held-out questions, next to
    its base model. Every evaluation is kept; cancelling stops it."""

    queryset = Evaluation.objects.all()
    serializer_class = shapes.EvaluationSerializer
    filter_backends = []

    def browsable_example(self):
        return {} if self.action == "create" else None

    def get_finetuning(self):
        pk = self.kwargs["finetuning_pk"]
        return found_or_404(selectors.finetuning_list(), pk, f"No fine-tuning job with id {pk!r}.")

    def get_queryset(self):
        return selectors.evaluation_list(finetuning=self.get_finetuning())

    def get_object(self):
        pk = self.kwargs["pk"]
        return found_or_404(self.get_queryset(), pk, f"No evaluation with id {pk!r} of this job.")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return shapes.EvaluationDetailSerializer
        if self.action == "create":
            return shapes.EvaluationCreateSerializer
        return shapes.EvaluationSerializer

    @extend_schema(
        operation_id="finetunings_evaluations_list",
        summary="A job's evaluations, newest first",
        responses={
            200: shapes.EvaluationSerializer(many=True),
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="finetunings_evaluations_retrieve",
        summary="An evaluation: status, progress, per-model figures and per-record outcomes",
        responses={200: shapes.EvaluationDetailSerializer, **NOT_FOUND, **AUTH_ERRORS},
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        operation_id="finetunings_evaluations_create",
        summary="Evaluate a succeeded job's models on golden records",
        description=CREATE_DESCRIPTION,
        request=shapes.EvaluationCreateSerializer,
        examples=[CREATE_EXAMPLE],
        responses={
            201: shapes.EvaluationSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        finetuning = self.get_finetuning()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluation = services.evaluation_create(
            finetuning=finetuning, actor=actor_for(request), **serializer.validated_data
        )
        return Response(shapes.EvaluationSerializer(evaluation).data, status=HTTPStatus.CREATED)

    @extend_schema(
        operation_id="finetunings_evaluations_cancel",
        summary="Cancel an evaluation",
        description="Stops the evaluation: no more model calls. It is kept, with the answers "
        "it stored. Cancelling a cancelled evaluation returns it; a succeeded or failed one "
        "is a 409 with its status.",
        request=None,
        examples=[NOT_CANCELLABLE_EXAMPLE],
        responses={
            200: shapes.EvaluationSerializer,
            **BAD_REQUEST,  # a malformed Idempotency-Key
            **NOT_FOUND,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
            HTTPStatus.CONFLICT: OpenApiResponse(
                EvaluationNotCancellableSerializer,
                description="The evaluation has already finished.",
            ),
        },
    )
    @idempotent(atomic=False)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        evaluation = services.evaluation_cancel(
            evaluation=self.get_object(), actor=actor_for(request)
        )
        return Response(shapes.EvaluationSerializer(evaluation).data)


_list = EvaluationViewSet.as_view({"get": "list", "post": "create"})
_detail = EvaluationViewSet.as_view({"get": "retrieve"})
_cancel = EvaluationViewSet.as_view({"post": "cancel"})
_JOB = r"^finetunings/(?P<finetuning_pk>[^/.]+)/evaluations"

# Included by api/urls.py; every route with and without a trailing slash, like the router's.
urlpatterns = [
    re_path(rf"{_JOB}/?$", _list, name="finetuning-evaluation-list"),
    re_path(rf"{_JOB}/(?P<pk>[^/.]+)/?$", _detail, name="finetuning-evaluation-detail"),
    re_path(rf"{_JOB}/(?P<pk>[^/.]+)/cancel/?$", _cancel, name="finetuning-evaluation-cancel"),
]
