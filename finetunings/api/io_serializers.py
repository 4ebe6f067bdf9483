"""Request and response shapes of the golden-record import and export."""

from rest_framework import serializers

from finetunings import golden_record_io


class GoldenRecordImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (with a header row) or JSON Lines, UTF-8, up to 100,000 rows. Columns: "
        "question (or prompt_text), sql, optional metadata (a JSON object), external_id (or "
        "id) and db_connection_id."
    )
    format = serializers.ChoiceField(
        choices=golden_record_io.FORMATS,
        required=False,
        help_text="csv or jsonl; by default taken from the file name (.csv, .jsonl, .ndjson).",
    )
    db_connection_id = serializers.CharField(
        max_length=24,
        required=False,
        help_text="The connection of every row (rows' own db_connection_id are then ignored).",
    )


class GoldenRecordImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Golden records added.")
    updated = serializers.IntegerField(
        help_text="Existing golden records updated, found by their external id."
    )


class GoldenRecordExportQuerySerializer(serializers.Serializer):
    db_connection_id = serializers.CharField(max_length=24)
    format = serializers.ChoiceField(choices=golden_record_io.FORMATS, default="csv")
