"""The golden records' viewset, with their import and export as files."""

from http import HTTPStatus

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from finetunings import golden_record_io, selectors, services
from finetunings.api import filters, golden_record_bodies, io_serializers, serializers
from finetunings.api.exceptions import validation_response
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.renderers import JSONRenderer
from finetunings.api.views.common import (
    AUTH_ERRORS,
    BAD_REQUEST,
    FriendlyNotFoundMixin,
    IdempotentCreateMixin,
    changed,
    created,
    deleted,
    first_connection_id,
    listed,
    shown,
)
from finetunings.errors import ErrorCode

GOLDEN_RECORD_UPDATE_DESCRIPTION = (
    "The SQL must parse in the connection's dialect. db_connection_id cannot change (a record "
    "belongs to its connection's schema, and that connection's jobs may train on it): "
    f"naming another connection is a 400 with code {ErrorCode.GOLDEN_RECORD_CONNECTION_FIXED}; "
    "naming the same one, as a GET-then-PUT round trip does, is fine."
)
# The import and export routes: a whole file for a connection, neither filtered nor paged.
FILE_ROUTE = {"detail": False, "filter_backends": [], "pagination_class": None}


@extend_schema_view(
    list=extend_schema(responses=listed(serializers.GoldenRecordSerializer)),
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
        responses=created(serializers.GoldenRecordSerializer),
    ),
    retrieve=extend_schema(responses=shown(serializers.GoldenRecordSerializer)),
    update=extend_schema(
        description=GOLDEN_RECORD_UPDATE_DESCRIPTION,
        responses=changed(serializers.GoldenRecordSerializer),
    ),
    partial_update=extend_schema(
        description=GOLDEN_RECORD_UPDATE_DESCRIPTION,
        responses=changed(serializers.GoldenRecordSerializer),
    ),
    destroy=extend_schema(responses=deleted()),
)
class GoldenRecordViewSet(IdempotentCreateMixin, FriendlyNotFoundMixin, viewsets.ModelViewSet):
    """Verified pairs of a natural-language question and the SQL that answers it."""

    queryset = selectors.golden_record_list()
    serializer_class = serializers.GoldenRecordSerializer
    filterset_class = filters.GoldenRecordFilter

    def browsable_example(self):
        if self.action != "create":
            return None
        return {
            "db_connection_id": first_connection_id(),
            "question": "How many orders are there?",
            "sql": "SELECT count(*) FROM orders",
        }

    def get_serializer(self, *args, **kwargs):
        if self.action == "create" and isinstance(kwargs.get("data"), list):
            # GoldenRecordSerializer(many=True), checked and answered in bulk.
            kwargs.setdefault("context", self.get_serializer_context())
            return golden_record_bodies.GoldenRecordListSerializer(
                *args,
                child=self.get_serializer_class()(context=kwargs["context"]),
                allow_empty=False,
                max_length=serializers.GOLDEN_RECORDS_BULK_MAX,
                **kwargs,
            )
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        records = serializer.validated_data
        # Plain rows: the serializers render a row as they would the record.
        created = services.golden_records_create_rows(
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
    @action(methods=["post"], url_path="import", parser_classes=[MultiPartParser], **FILE_ROUTE)
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
    @action(methods=["get"], **FILE_ROUTE)
    def export(self, request):
        query = io_serializers.GoldenRecordExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        connection_id = query.validated_data["db_connection_id"]
        connection = selectors.database_connection_list().filter(pk=connection_id).first()
        if connection is None:
            return validation_response(
                {"db_connection_id": [f"No database connection with id {connection_id!r}."]}
            )
        return golden_record_io.export_response(
            connection=connection, file_format=query.validated_data["format"]
        )

    def perform_content_negotiation(self, request, force=False):
        # The export route, whatever the method (a TRACE must get its 405, not a 404).
        if "export" in getattr(self, "action_map", {}).values():
            # The file streams as it is; a renderer only ever shapes an error, in JSON.
            # (DRF would otherwise read ?format= as a renderer's name and answer a bare 404.)
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force=force)
