"""The fine-tuning jobs' viewset: start them, follow them, cancel them."""

from http import HTTPStatus

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from finetunings import errors, selectors, services
from finetunings.api import filters, serializers
from finetunings.api.authentication import actor_for
from finetunings.api.exceptions import validation_response
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.job_bodies import (
    finetuning_body,
    finetuning_instance_body,
    finetuning_row,
    finetuning_rows,
)
from finetunings.api.pagination import OldestFirstCursorPagination, StepCursorPagination
from finetunings.api.views.common import (
    AUTH_ERRORS,
    BAD_REQUEST,
    NOT_FOUND,
    PROVIDER_ERRORS,
    FriendlyNotFoundMixin,
    changed,
    conflict,
    created,
    deleted,
    first_connection_id,
    jsonl_file_route,
    kept_file_response,
    listed,
    not_cancellable_example,
    shown,
)
from finetunings.errors import ErrorCode
from finetunings.models import Finetuning
from finetunings.ops import metrics

METRIC_POINTS_MIN, METRIC_POINTS_MAX = 2, 10_000


def _metric_points(request) -> int | None:
    raw = request.query_params.get("points")
    if raw is None:
        return None
    try:
        points = int(raw)
    except ValueError:
        points = 0
    if not METRIC_POINTS_MIN <= points <= METRIC_POINTS_MAX:
        raise exceptions.ValidationError(
            {"points": [f"Must be a whole number from {METRIC_POINTS_MIN} to {METRIC_POINTS_MAX}."]}
        )
    return points


CANCEL_PAGE_HINT = (
    "Press POST below to cancel this job (the body is optional: leave it empty, or give "
    "metadata to merge into the job's)."
)


# Swagger UI's "Try it out" starts from the first example: one that works on any job (the
# seed's example names one job's id, which answers 400 finetuning_id_mismatch on any other).
CANCEL_EXAMPLE = OpenApiExample(
    "Cancel, with a note in the job's metadata (the body is optional)",
    value={"metadata": {"reason": "no longer needed"}},
    request_only=True,
)
NOT_CANCELLABLE_EXAMPLE = not_cancellable_example(
    "The job has already succeeded",
    "The fine-tuning job has already succeeded and cannot be cancelled.",
    ErrorCode.NOT_CANCELLABLE,
)
SEED_CANCEL_EXAMPLE = OpenApiExample(
    "Cancel (as in the original documentation)",
    value={"finetuning_id": "656777c9eb4e22533dc43fce"},
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(responses=listed(serializers.FinetuningSerializer)),
    create=extend_schema(
        request=serializers.FinetuningCreateSerializer,
        responses=created(serializers.FinetuningSerializer),
    ),
    retrieve=extend_schema(responses=shown(serializers.FinetuningSerializer)),
    partial_update=extend_schema(
        request=serializers.FinetuningUpdateSerializer,
        responses=changed(serializers.FinetuningSerializer),
    ),
    destroy=extend_schema(responses=deleted("The job is active: cancel it first.")),
)
class FinetuningViewSet(
    FriendlyNotFoundMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Fine-tuning jobs: start them, follow them, cancel them."""

    queryset = selectors.finetuning_list()
    # What a cancel reads its job with; built once, as ``queryset`` is (it is only ever
    # cloned), since building its progress subqueries is a noticeable part of a cancel.
    cancel_queryset = selectors.finetuning_with_progress()
    serializer_class = serializers.FinetuningSerializer
    filterset_class = filters.FinetuningFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def browsable_example(self):
        if self.action == "create":
            # golden_records left out: every record of the connection ([] would mean none).
            return {"db_connection_id": first_connection_id()}
        if self.action == "cancel":
            return {}  # the body is optional; a finetuning_id must equal the path's
        return None

    def http_method_not_allowed(self, request, *args, **kwargs):
        # The browsable API opens the cancel route with a GET: show the job and the POST
        # form under it, not a red 405 block. Every other client still gets the 405.
        match = request.resolver_match
        if (
            request.method == "GET"
            and match is not None
            and match.url_name == "finetuning-cancel"
            and getattr(request.accepted_renderer, "format", None) == "api"
        ):
            job = self.get_object()
            return Response(
                {
                    "detail": CANCEL_PAGE_HINT,
                    "finetuning": serializers.FinetuningSerializer(job).data,
                }
            )
        return super().http_method_not_allowed(request, *args, **kwargs)

    def get_queryset(self):
        # The fast read path: list and retrieve answer from plain rows (see job_bodies).
        if self.action in ("list", "retrieve"):
            return finetuning_rows(super().get_queryset())
        return super().get_queryset()

    def filter_queryset(self, queryset):
        # Building the filter set (a deep copy of every filter) costs more than the rest of a
        # retrieve; with no parameter naming a filter it would filter nothing.
        if not self.filters_named():
            return queryset
        return super().filter_queryset(queryset)

    def filters_named(self) -> bool:
        return not self.filterset_class.base_filters.keys().isdisjoint(self.request.query_params)

    def get_object(self):
        if self.action != "retrieve" or self.filters_named():
            return super().get_object()
        # The fast read path's one query, compiled once (a filter named in the query
        # string still applies to a retrieve, through DRF's own get_object above).
        row = finetuning_row(self.lookup_pk())
        if row is None:
            raise self.not_found()
        self.check_object_permissions(self.request, row)
        return row

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([finetuning_body(row) for row in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(finetuning_body(self.get_object()))

    def get_serializer_class(self):
        return {
            "create": serializers.FinetuningCreateSerializer,
            "partial_update": serializers.FinetuningUpdateSerializer,
            "cancel": serializers.FinetuningCancelSerializer,
            "events": serializers.FinetuningEventSerializer,
            "metrics": serializers.FinetuningMetricSerializer,
            "checkpoints": serializers.FinetuningCheckpointSerializer,
        }.get(self.action, serializers.FinetuningSerializer)

    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        finetuning = services.finetuning_create(
            actor=actor_for(request), **serializer.validated_data
        )
        return Response(
            serializers.FinetuningSerializer(finetuning).data, status=HTTPStatus.CREATED
        )

    def update(self, request, *args, **kwargs):
        finetuning = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        finetuning = services.finetuning_update(
            finetuning=finetuning, actor=actor_for(request), **serializer.validated_data
        )
        return Response(serializers.FinetuningSerializer(finetuning).data)

    def _page(self, queryset):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def perform_destroy(self, instance):
        services.finetuning_delete(finetuning=instance)

    @extend_schema(
        summary="Cancel a fine-tuning job",
        description=(
            "Stops the training at the provider but never deletes the job. An active job "
            "(queued, validating_files, running) becomes cancelled with error "
            '"Fine tuning cancelled by the user". Cancelling a cancelled job returns it, '
            "with the request's metadata merged (a retried request changes nothing). "
            "A succeeded or failed job cannot be cancelled (409, with its status); if the "
            "provider reports that the job has just finished, the job is updated to what the "
            "provider says and 409 is returned. The body is optional."
        ),
        operation_id="finetunings_cancel",
        request=serializers.FinetuningCancelSerializer,
        examples=[CANCEL_EXAMPLE, SEED_CANCEL_EXAMPLE, NOT_CANCELLABLE_EXAMPLE],
        responses={
            200: serializers.FinetuningSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **NOT_FOUND,
            **IDEMPOTENCY_RESPONSES,
            **conflict(
                "The job has already succeeded or failed.",
                serializers.NotCancellableErrorSerializer,
            ),
            **PROVIDER_ERRORS,
        },
    )
    @idempotent(atomic=False)  # above @action, which replaces the method's schema kwargs
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        finetuning_id = self.lookup_pk()
        try:
            data = request.data
        except exceptions.APIException:  # a body that does not parse, or of another type
            self.get_object()  # an unknown job is a 404 first, whatever its body
            raise
        serializer = self.get_serializer(data=data)
        valid = serializer.is_valid()
        body_id = serializer.validated_data.get("finetuning_id") if valid else None
        mismatch = body_id is not None and body_id != pk
        if not valid or mismatch or self.filters_named():
            self.get_object()  # an unknown job (or one the filters leave out) is a 404 first
        serializer.is_valid(raise_exception=True)
        if mismatch:
            response = validation_response(
                {"finetuning_id": [f"Must equal the id in the path ({pk!r})."]}
            )
            response.data["code"] = ErrorCode.ID_MISMATCH
            return response
        try:
            # The cancel's first statement reads the job (as it takes its cancel lease).
            with metrics.cancel_timer():
                cancelled = services.finetuning_cancel(
                    finetuning_id=finetuning_id,
                    actor=actor_for(request),
                    metadata=serializer.validated_data.get("metadata"),
                    jobs=self.cancel_queryset,
                ).finetuning
        except Finetuning.DoesNotExist:
            raise self.not_found() from None
        return Response(finetuning_instance_body(cancelled))

    @extend_schema(
        summary="The job's timeline",
        description="Status changes, who created, edited or cancelled it, provider events and "
        "errors, oldest first.",
        responses={
            200: serializers.FinetuningEventSerializer(many=True),
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **NOT_FOUND,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=OldestFirstCursorPagination,
        filter_backends=[],
    )
    def events(self, request, pk=None):
        return self._page(selectors.finetuning_event_list(finetuning=self.get_object()))

    @extend_schema(
        summary="The job's training metrics, step by step",
        description="One item per training step the provider reported (loss and token "
        "accuracy on the training and validation data; full_valid_* on the last step only), "
        "first step first: filled while the job runs and completed from the provider's "
        "result file when it succeeds. Paged with cursor and limit; or, with points, at "
        "most that many steps spread evenly over the whole series, its first and last "
        "step always included, in one answer (next and previous null).",
        parameters=[
            OpenApiParameter(
                "points",
                int,
                description=f"Downsample to at most this many steps, "
                f"{METRIC_POINTS_MIN} to {METRIC_POINTS_MAX}; cursor and limit are then ignored.",
                required=False,
            )
        ],
        responses={
            200: serializers.FinetuningMetricSerializer(many=True),
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=StepCursorPagination, filter_backends=[])
    def metrics(self, request, pk=None):
        finetuning = self.get_object()
        points = _metric_points(request)
        if points is None:
            return self._page(selectors.finetuning_metric_list(finetuning=finetuning))
        series = selectors.finetuning_metrics_downsampled(finetuning=finetuning, points=points)
        return Response(
            {
                "next": None,
                "previous": None,
                "results": self.get_serializer(series, many=True).data,
            }
        )

    @extend_schema(
        summary="The job's checkpoints",
        description="Models the provider saved during training (OpenAI keeps those of the "
        "last few epochs), first step first, each with its model id, usable like the final "
        "model, and the figures at that step. Refreshed by the worker when the provider "
        "announces one and when the job ends.",
        responses={
            200: serializers.FinetuningCheckpointSerializer(many=True),
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **NOT_FOUND,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=StepCursorPagination, filter_backends=[])
    def checkpoints(self, request, pk=None):
        return self._page(selectors.finetuning_checkpoint_list(finetuning=self.get_object()))

    @jsonl_file_route(
        url_path="training-file",
        operation_id="finetunings_training_file",
        summary="The job's training file",
        description="The exact JSONL the job was (or will be) trained on, once the worker has "
        "built it: one chat example per golden record. 404 with code "
        f"{ErrorCode.TRAINING_FILE_NOT_READY} before that.",
    )
    def training_file(self, request, pk=None):
        return kept_file_response(request, self.get_object(), "training")

    @jsonl_file_route(
        url_path="validation-file",
        operation_id="finetunings_validation_file",
        summary="The job's validation file",
        description="The exact JSONL of the golden records held out for validation "
        "(validation_golden_records), in the training file's format, once the worker has "
        f"built it. 404 with code {ErrorCode.VALIDATION_FILE_NOT_READY} before that, and with "
        f"code {ErrorCode.NO_VALIDATION_FILE} for a job created without a validation split.",
    )
    def validation_file(self, request, pk=None):
        finetuning = self.get_object()
        if not finetuning.validation_golden_records:
            raise exceptions.NotFound(
                errors.NO_VALIDATION_FILE_MESSAGE, code=ErrorCode.NO_VALIDATION_FILE
            )
        return kept_file_response(request, finetuning, "validation")
