"""The REST API's viewsets: each one validates its input, calls a service, shows the result.

Business rules and state changes live in ``finetunings.services``; errors those raise are
turned into responses by ``api.exceptions``.
"""

from http import HTTPStatus

from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from finetunings import errors, golden_record_io, selectors, services, validation_split
from finetunings.api import filters, io_serializers, serializers
from finetunings.api.authentication import actor_for
from finetunings.api.exceptions import validation_response
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.pagination import OldestFirstCursorPagination, StepCursorPagination
from finetunings.api.renderers import JSONLinesRenderer, JSONRenderer, OctetStreamRenderer
from finetunings.ops import metrics

ERROR = serializers.ErrorSerializer
AUTH_ERRORS = {
    HTTPStatus.UNAUTHORIZED: OpenApiResponse(ERROR, description="Missing or invalid API key."),
    HTTPStatus.FORBIDDEN: OpenApiResponse(
        ERROR,
        description="A staff session without the Django model permission this needs "
        "(API keys have every permission).",
    ),
}
NOT_FOUND = {HTTPStatus.NOT_FOUND: OpenApiResponse(ERROR, description="Unknown id.")}
BAD_REQUEST = {
    HTTPStatus.BAD_REQUEST: OpenApiResponse(
        serializers.ValidationErrorSerializer, description="Invalid input; see errors."
    )
}
PROVIDER_ERRORS = {
    HTTPStatus.BAD_GATEWAY: OpenApiResponse(
        ERROR, description="The provider refused the request; the job is unchanged."
    ),
    HTTPStatus.SERVICE_UNAVAILABLE: OpenApiResponse(
        ERROR,
        description="The provider could not be reached (or another cancel of the same job "
        "is still in flight); the job is unchanged, retry after Retry-After seconds.",
    ),
}


GOLDEN_RECORD_UPDATE_DESCRIPTION = (
    "The SQL must parse in the connection's dialect. db_connection_id cannot change (a record "
    "belongs to its connection's schema, and that connection's jobs may train on it): "
    f"naming another connection is a 400 with code {errors.CODE_GOLDEN_RECORD_CONNECTION_FIXED}; "
    "naming the same one, as a GET-then-PUT round trip does, is fine."
)


METRIC_POINTS_MIN, METRIC_POINTS_MAX = 2, 10_000

JSONL_FILE_RESPONSES = {
    (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY, description="The JSONL file."),
    # The same bytes; the type client generators turn into a call returning them.
    (200, "application/octet-stream"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The JSONL file, as plain bytes."
    ),
    **BAD_REQUEST,
    **AUTH_ERRORS,
    **NOT_FOUND,
}


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


def conflict(description: str, serializer=ERROR):
    return {HTTPStatus.CONFLICT: OpenApiResponse(serializer, description=description)}


def _first_connection_id() -> str:
    connection = selectors.database_connection_list().order_by("created_at", "id").first()
    return connection.pk if connection else "<the id of a database connection>"


class FriendlyNotFoundMixin:
    """A 404 that names the kind of thing and the id that was not found."""

    def get_object(self):
        if "\x00" in self.kwargs.get("pk", ""):
            # No id holds a NUL, and PostgreSQL would refuse to even look one up.
            raise exceptions.NotFound(f"No {self.queryset.model._meta.verbose_name} with that id.")
        try:
            return super().get_object()
        except Http404:
            noun = self.queryset.model._meta.verbose_name
            raise exceptions.NotFound(f"No {noun} with id {self.kwargs['pk']!r}.") from None


@extend_schema_view(
    list=extend_schema(
        responses={200: serializers.DatabaseConnectionSerializer, **BAD_REQUEST, **AUTH_ERRORS}
    ),
    create=extend_schema(
        responses={
            201: serializers.DatabaseConnectionSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        }
    ),
    retrieve=extend_schema(
        responses={200: serializers.DatabaseConnectionSerializer, **NOT_FOUND, **AUTH_ERRORS}
    ),
    update=extend_schema(
        description="Replace the connection's fields; connection_uri may be left out to keep "
        "the stored one.",
        request=serializers.DatabaseConnectionUpdateSerializer,
        responses={
            200: serializers.DatabaseConnectionSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    ),
    partial_update=extend_schema(
        request=serializers.DatabaseConnectionUpdateSerializer,
        responses={
            200: serializers.DatabaseConnectionSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    ),
    destroy=extend_schema(
        responses={
            204: None,
            **NOT_FOUND,
            **AUTH_ERRORS,
            **conflict("The connection has active fine-tuning jobs."),
        }
    ),
)
class DatabaseConnectionViewSet(FriendlyNotFoundMixin, viewsets.ModelViewSet):
    """Databases whose questions fine-tuned models will answer."""

    queryset = selectors.database_connection_list()
    serializer_class = serializers.DatabaseConnectionSerializer
    filterset_class = filters.DatabaseConnectionFilter

    def get_serializer_class(self):
        if self.action in {"update", "partial_update"}:
            return serializers.DatabaseConnectionUpdateSerializer
        return super().get_serializer_class()

    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def browsable_example(self):
        if self.action != "create":
            return None
        return {
            "alias": "my_database",
            "dialect": "postgresql",
            "connection_uri": "postgresql://reader:password@db.example.com:5432/shop",
            "schema": "CREATE TABLE orders (id integer, customer text, total numeric);",
        }

    def perform_create(self, serializer):
        serializer.instance = services.database_connection_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.database_connection_update(
            connection=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.database_connection_delete(connection=instance)


@extend_schema_view(
    list=extend_schema(
        responses={200: serializers.GoldenRecordSerializer, **BAD_REQUEST, **AUTH_ERRORS}
    ),
    create=extend_schema(
        description="Create one golden record (an object) or several at once (an array of up "
        "to 10,000 objects): all of them are created, or none and the 400 names each problem "
        "as <index>.<field>. The SQL must parse in the connection's dialect. Parsing is "
        "bounded: one record's sql holds at most 20,000 characters, and one request at most "
        "200,000 characters of SQL in all (else 400 too_much_sql; send smaller batches).",
        # Both forms in the schema, so that generated clients can send either.
        request={
            "application/json": {
                "oneOf": [
                    {"$ref": "#/components/schemas/GoldenRecordRequest"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/GoldenRecordRequest"},
                        "minItems": 1,
                        "maxItems": serializers.GOLDEN_RECORDS_BULK_MAX,
                    },
                ]
            }
        },
        responses={
            201: serializers.GoldenRecordSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        },
    ),
    retrieve=extend_schema(
        responses={200: serializers.GoldenRecordSerializer, **NOT_FOUND, **AUTH_ERRORS}
    ),
    update=extend_schema(
        description=GOLDEN_RECORD_UPDATE_DESCRIPTION,
        responses={
            200: serializers.GoldenRecordSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    ),
    partial_update=extend_schema(
        description=GOLDEN_RECORD_UPDATE_DESCRIPTION,
        responses={
            200: serializers.GoldenRecordSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    ),
    destroy=extend_schema(responses={204: None, **NOT_FOUND, **AUTH_ERRORS}),
)
class GoldenRecordViewSet(FriendlyNotFoundMixin, viewsets.ModelViewSet):
    """Verified pairs of a natural-language question and the SQL that answers it."""

    queryset = selectors.golden_record_list()
    serializer_class = serializers.GoldenRecordSerializer
    filterset_class = filters.GoldenRecordFilter

    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def browsable_example(self):
        if self.action != "create":
            return None
        return {
            "db_connection_id": _first_connection_id(),
            "question": "How many orders are there?",
            "sql": "SELECT count(*) FROM orders",
        }

    def get_serializer(self, *args, **kwargs):
        if self.action == "create" and isinstance(kwargs.get("data"), list):
            kwargs.update(
                many=True, allow_empty=False, max_length=serializers.GOLDEN_RECORDS_BULK_MAX
            )
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        records = serializer.validated_data
        created = services.golden_records_create(
            records=records if isinstance(records, list) else [records]
        )
        serializer.instance = created if isinstance(records, list) else created[0]

    def perform_update(self, serializer):
        serializer.instance = services.golden_record_update(
            golden_record=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.golden_record_delete(golden_record=instance)

    @extend_schema(
        operation_id="golden_records_import",
        summary="Import golden records from a CSV or JSON Lines file",
        description="Upload a file (multipart/form-data, field `file`) of up to 100,000 rows: "
        "columns question (or Dataherald's prompt_text), sql, and optionally metadata (a JSON "
        "object), external_id (or id) and db_connection_id. All rows are imported or none: a "
        "400 names every bad row by its line (`line 12.sql`). A row whose external_id names "
        "a record of its connection (or that record's id, as an export writes it) updates it "
        "instead of adding a duplicate.",
        request={"multipart/form-data": io_serializers.GoldenRecordImportSerializer},
        responses={
            200: io_serializers.GoldenRecordImportResultSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        },
    )
    @idempotent(atomic=True)
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        filter_backends=[],
        pagination_class=None,
    )
    def import_file(self, request):
        serializer = io_serializers.GoldenRecordImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        file_format = golden_record_io.file_format(
            requested=serializer.validated_data.get("format"),
            filename=upload.name,
            content_type=upload.content_type,
        )
        if file_format is None:
            return validation_response(
                {"format": ["Give format csv or jsonl, or a file named *.csv or *.jsonl."]}
            )
        result = golden_record_io.golden_records_import(
            file=upload,
            file_format=file_format,
            db_connection_id=serializer.validated_data.get("db_connection_id"),
        )
        return Response(
            io_serializers.GoldenRecordImportResultSerializer(result).data,
            status=HTTPStatus.OK,
        )

    @extend_schema(
        operation_id="golden_records_export",
        summary="Export a connection's golden records as CSV or JSON Lines",
        description="Streams every golden record of the connection, in order of their "
        "external id (a record's own id when it has none), in the shape the import reads: "
        "importing the file elsewhere and exporting again gives the same bytes.",
        parameters=[io_serializers.GoldenRecordExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV."),
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The JSON Lines file."
            ),
            **BAD_REQUEST,
            **AUTH_ERRORS,
        },
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
    )
    def export(self, request):
        query = io_serializers.GoldenRecordExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        connection_id = query.validated_data["db_connection_id"]
        connection = selectors.database_connection_list().filter(pk=connection_id).first()
        if connection is None:
            return validation_response(
                {"db_connection_id": [f"No database connection with id {connection_id!r}."]}
            )
        file_format = query.validated_data["format"]
        response = StreamingHttpResponse(
            golden_record_io.golden_records_export(connection=connection, file_format=file_format),
            content_type=EXPORT_CONTENT_TYPES[file_format],
        )
        filename = f"golden-records-{connection.pk}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def perform_content_negotiation(self, request, force=False):
        # The export route, whatever the method (a TRACE must get its 405, not a 404).
        if "export" in getattr(self, "action_map", {}).values():
            # The file streams as it is; a renderer only ever shapes an error, in JSON.
            # (DRF would otherwise read ?format= as a renderer's name and answer a bare 404.)
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force=force)


EXPORT_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


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
NOT_CANCELLABLE_EXAMPLE = OpenApiExample(
    "The job has already succeeded",
    value={
        "detail": "The fine-tuning job has already succeeded and cannot be cancelled.",
        "code": errors.CODE_NOT_CANCELLABLE,
        "status": "succeeded",
    },
    response_only=True,
    status_codes=["409"],
)
SEED_CANCEL_EXAMPLE = OpenApiExample(
    "Cancel (as in the original documentation)",
    value={"finetuning_id": "656777c9eb4e22533dc43fce"},
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(
        responses={200: serializers.FinetuningSerializer, **BAD_REQUEST, **AUTH_ERRORS}
    ),
    create=extend_schema(
        request=serializers.FinetuningCreateSerializer,
        responses={
            201: serializers.FinetuningSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        },
    ),
    retrieve=extend_schema(
        responses={200: serializers.FinetuningSerializer, **NOT_FOUND, **AUTH_ERRORS}
    ),
    partial_update=extend_schema(
        request=serializers.FinetuningUpdateSerializer,
        responses={
            200: serializers.FinetuningSerializer,
            **BAD_REQUEST,
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
    ),
    destroy=extend_schema(
        responses={
            204: None,
            **NOT_FOUND,
            **AUTH_ERRORS,
            **conflict("The job is active: cancel it first."),
        }
    ),
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
    serializer_class = serializers.FinetuningSerializer
    filterset_class = filters.FinetuningFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def browsable_example(self):
        if self.action == "create":
            # golden_records left out: every record of the connection ([] would mean none).
            return {"db_connection_id": _first_connection_id()}
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
        finetuning = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body_id = serializer.validated_data.get("finetuning_id")
        if body_id is not None and body_id != finetuning.pk:
            response = validation_response(
                {"finetuning_id": [f"Must equal the id in the path ({finetuning.pk!r})."]}
            )
            response.data["code"] = errors.CODE_ID_MISMATCH
            return response
        with metrics.cancel_timer():
            finetuning = services.finetuning_cancel(
                finetuning=finetuning,
                actor=actor_for(request),
                metadata=serializer.validated_data.get("metadata"),
            )
        return Response(serializers.FinetuningSerializer(finetuning).data)

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
        events = selectors.finetuning_event_list(finetuning=self.get_object())
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

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
            page = self.paginate_queryset(selectors.finetuning_metric_list(finetuning=finetuning))
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
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
        checkpoints = selectors.finetuning_checkpoint_list(finetuning=self.get_object())
        page = self.paginate_queryset(checkpoints)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="finetunings_training_file",
        summary="The job's training file",
        description="The exact JSONL the job was (or will be) trained on, once the worker has "
        "built it: one chat example per golden record. 404 with code "
        "training_file_not_ready before that.",
        responses=JSONL_FILE_RESPONSES,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="training-file",
        renderer_classes=[JSONRenderer, JSONLinesRenderer, OctetStreamRenderer],
    )
    def training_file(self, request, pk=None):
        finetuning = self.get_object()
        if not finetuning.training_file:
            raise exceptions.NotFound(
                errors.TRAINING_FILE_NOT_READY_MESSAGE, code=errors.CODE_TRAINING_FILE_NOT_READY
            )
        return _jsonl_response(
            request,
            finetuning.training_file,
            filename=f"{finetuning.pk}.jsonl",
            sha256=finetuning.training_file_sha256,
        )

    @extend_schema(
        operation_id="finetunings_validation_file",
        summary="The job's validation file",
        description="The exact JSONL of the golden records held out for validation "
        "(validation_golden_records), in the training file's format, once the worker has "
        f"built it. 404 with code {validation_split.CODE_VALIDATION_FILE_NOT_READY} before "
        f"that, and with code {validation_split.CODE_NO_VALIDATION_FILE} for a job created "
        "without a validation split.",
        responses=JSONL_FILE_RESPONSES,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="validation-file",
        renderer_classes=[JSONRenderer, JSONLinesRenderer, OctetStreamRenderer],
    )
    def validation_file(self, request, pk=None):
        finetuning = self.get_object()
        if not finetuning.validation_golden_records:
            raise exceptions.NotFound(
                validation_split.NO_VALIDATION_FILE_MESSAGE,
                code=validation_split.CODE_NO_VALIDATION_FILE,
            )
        if not finetuning.validation_file:
            raise exceptions.NotFound(
                validation_split.VALIDATION_FILE_NOT_READY_MESSAGE,
                code=validation_split.CODE_VALIDATION_FILE_NOT_READY,
            )
        return _jsonl_response(
            request,
            finetuning.validation_file,
            filename=f"{finetuning.pk}-validation.jsonl",
            sha256=finetuning.validation_file_sha256,
        )


def _jsonl_response(request, stored, *, filename: str, sha256: str | None) -> FileResponse:
    """A kept JSONL file, streamed, as JSON Lines or (when asked for) plain bytes."""
    response = FileResponse(
        stored.open("rb"),
        as_attachment=True,
        filename=filename,
        content_type=OctetStreamRenderer.media_type
        if request.accepted_renderer.media_type == OctetStreamRenderer.media_type
        else JSONLinesRenderer.media_type,
    )
    if sha256:
        response["ETag"] = f'"{sha256}"'
    return response
