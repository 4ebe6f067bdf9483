"""The export: a connection's golden records, streamed as the file the import reads."""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse

from finetunings.models import DatabaseConnection, GoldenRecord

EXPORT_COLUMNS = ("external_id", "question", "sql", "metadata")
EXPORT_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


def _metadata_text(metadata) -> str:
    if metadata is None:
        return ""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _export_rows(connection: DatabaseConnection) -> Iterator[tuple]:
    # Ordered by the exported id (a record's external id, else its own id): the order a
    # re-import gives back, so that export -> import -> export is the same file.
    return (
        GoldenRecord.objects.filter(db_connection=connection)
        .annotate(export_id=Coalesce("external_id", "id"))
        .order_by("export_id")
        .values_list("export_id", "question", "sql", "metadata")
        .iterator(chunk_size=2000)
    )


def _chunks(lines: Iterable[str], size: int = 500) -> Iterator[bytes]:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= size:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


def _csv_lines(connection: DatabaseConnection) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for external_id, question, sql, metadata in _export_rows(connection):
        writer.writerow([external_id, question, sql, _metadata_text(metadata)])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _jsonl_lines(connection: DatabaseConnection) -> Iterator[str]:
    for external_id, question, sql, metadata in _export_rows(connection):
        row = {"external_id": external_id, "question": question, "sql": sql, "metadata": metadata}
        yield json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"


def golden_records_export(*, connection: DatabaseConnection, file_format: str) -> Iterator[bytes]:
    """The connection's golden records as a CSV or JSON Lines file, produced as it is sent."""
    lines = _csv_lines(connection) if file_format == "csv" else _jsonl_lines(connection)
    return _chunks(lines)


def export_response(*, connection: DatabaseConnection, file_format: str) -> StreamingHttpResponse:
    """The export as a download, for the API and the admin alike."""
    response = StreamingHttpResponse(
        golden_records_export(connection=connection, file_format=file_format),
        content_type=EXPORT_CONTENT_TYPES[file_format],
    )
    filename = f"golden-records-{connection.pk}.{file_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
