"""Golden records in and out as files: CSV or JSON Lines import, streamed export.

Teams keep golden records in spreadsheets and in Dataherald's engine; this module reads
both shapes and writes the one the import reads back, so an export imported elsewhere and
exported again gives the same bytes.

- Columns (CSV header, or JSON object keys): ``question`` (or Dataherald's ``prompt_text``),
  ``sql``, optional ``metadata`` (an object; in CSV its JSON text), optional
  ``external_id`` (Dataherald's ``id`` stands in when there is none) and optional
  ``db_connection_id``. Other columns are ignored.
- An import is all or nothing: every row is checked, each bad one is named by its line, and
  nothing is written unless every row is good. Rows are read and written in batches inside
  one transaction, so memory stays flat whatever the file's size.
- A row whose external id names a record of its connection (by external id, or by id, as an
  export writes the id of a record that has none) updates that record instead of adding one.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from django.db import connection as db_connection
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from finetunings import errors, validation
from finetunings.models import DatabaseConnection, GoldenRecord, new_id

IMPORT_MAX_ROWS = 100_000
# 100,000 rows of long questions and SQL fit well within this; a larger upload is refused
# before any of it is read.
IMPORT_MAX_BYTES = 256 * 1024 * 1024
FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CONTENT_TYPES = {"text/csv": "csv", "application/jsonl": "jsonl", "application/x-ndjson": "jsonl"}
EXPORT_COLUMNS = ("external_id", "question", "sql", "metadata")
# Mirrors the API's limits on one golden record.
QUESTION_MAX_LENGTH = 5000
SQL_MAX_LENGTH = 50_000
EXTERNAL_ID_MAX_LENGTH = 200
# Bad rows named in one answer; past that the answer says how many more there are.
BAD_ROWS_SHOWN = 1000
_BATCH = 1000
_MISSING = object()


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def file_format(*, requested: str | None, filename: str, content_type: str) -> str | None:
    """The import format: the one asked for, else the file's extension or content type."""
    if requested:
        return requested if requested in FORMATS else None
    name = (filename or "").lower()
    for extension, found in EXTENSIONS.items():
        if name.endswith(extension):
            return found
    return CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())


# Parsing the same SQL again (an updated export imported anew) costs nothing.
@lru_cache(maxsize=20_000)
def _sql_problems(sql: str, dialect: str) -> tuple[str, ...]:
    return tuple(validation.sql_problems(sql, dialect))


# --- Reading -------------------------------------------------------------------------------


class _BadFile(Exception):
    """The file cannot be read on (not UTF-8, broken CSV): named with the line it stopped at."""


def _binary(file):
    """The raw binary file behind a Django upload (or the file itself), from its start."""
    binary = getattr(file, "file", file)
    binary.seek(0)
    return binary


def _decoded_lines(binary) -> Iterator[str]:
    # Line by line rather than through a text wrapper, which decodes ahead in blocks and
    # so could not say on which line the file stops being UTF-8.
    for number, raw in enumerate(binary, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise _BadFile(f"Line {number} is not UTF-8 text.") from None


def _csv_rows(binary) -> Iterator[tuple[int, dict | str]]:
    reader = csv.reader(_decoded_lines(binary))
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [name.strip() for name in header]
        start = reader.line_num + 1
        for values in reader:
            if not values or values == [""]:
                start = reader.line_num + 1
                continue
            if len(values) != len(columns):
                yield start, (f"Has {len(values)} values; the header has {len(columns)} columns.")
            else:
                yield start, dict(zip(columns, values, strict=True))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _BadFile(f"Line {reader.line_num}: not valid CSV ({exc}).") from None


def _jsonl_rows(binary) -> Iterator[tuple[int, dict | str]]:
    for number, raw in enumerate(binary, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            yield number, "Not UTF-8 text."
            continue
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"Not valid JSON ({exc.args[0].split(':')[0]})."
            continue
        yield number, value if isinstance(value, dict) else "Must be a JSON object."


def _text(value, *, csv_cell: bool):
    """A cell's text, or None when it is empty."""
    if value is None or (csv_cell and value == ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _record(raw: dict, *, csv_row: bool) -> tuple[dict, dict[str, list[str]]]:
    """A row as golden record fields, and what is wrong with it."""
    problems: dict[str, list[str]] = {}
    question = raw.get("question", raw.get("prompt_text"))
    sql = raw.get("sql")
    for field, value, limit in (
        ("question", question, QUESTION_MAX_LENGTH),
        ("sql", sql, SQL_MAX_LENGTH),
    ):
        if not isinstance(value, str) or not value.strip():
            problems[field] = ["Required: a non-empty text."]
        elif len(value) > limit:
            problems[field] = [f"Longer than {limit} characters."]
        elif "\x00" in value:
            problems[field] = ["Must not contain NUL characters."]

    external_id = _text(raw.get("external_id", raw.get("id")), csv_cell=csv_row)
    if external_id is not None and (
        not isinstance(external_id, str)
        or len(external_id) > EXTERNAL_ID_MAX_LENGTH
        or "\x00" in external_id
    ):
        problems["external_id"] = [
            f"Must be a text of at most {EXTERNAL_ID_MAX_LENGTH} characters."
        ]

    metadata = raw.get("metadata", _MISSING)
    if csv_row and isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else None
        except ValueError:
            problems["metadata"] = ['Must be a JSON object such as {"team": "sales"}, or empty.']
    if metadata is not _MISSING and "metadata" not in problems:
        problems["metadata"] = validation.metadata_problems(metadata)

    record = {
        "question": question,
        "sql": sql,
        "external_id": external_id,
        "metadata": metadata,
        "db_connection_id": _text(raw.get("db_connection_id"), csv_cell=csv_row),
    }
    return record, {field: messages for field, messages in problems.items() if messages}


# --- Import --------------------------------------------------------------------------------


class _Connections:
    """Connections looked up once each, by the id a row (or the whole import) names."""

    def __init__(self):
        self._found: dict[str, DatabaseConnection | None] = {}

    def get(self, connection_id) -> DatabaseConnection | None:
        if not isinstance(connection_id, str):
            return None
        if connection_id not in self._found:
            self._found[connection_id] = (
                DatabaseConnection.objects.alive().filter(pk=connection_id).first()
            )
        return self._found[connection_id]


def golden_records_import(
    *, file, file_format: str, db_connection_id: str | None = None
) -> ImportResult:
    """Import golden records from a CSV or JSON Lines file, all or nothing.

    ``db_connection_id``, when given, is the connection of every row (rows' own are then
    ignored: a Dataherald export names that engine's connections). Raises
    ``ValidationFailed`` whose fields are ``line <n>.<column>``.
    """
    if getattr(file, "size", 0) > IMPORT_MAX_BYTES:
        raise errors.ValidationFailed(
            {"file": [f"Larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MiB; split the file."]}
        )
    connections = _Connections()
    everyone = None
    if db_connection_id is not None:
        everyone = connections.get(db_connection_id)
        if everyone is None:
            raise errors.ValidationFailed(
                {"db_connection_id": [f"No database connection with id {db_connection_id!r}."]}
            )
    binary = _binary(file)
    rows = _csv_rows(binary) if file_format == "csv" else _jsonl_rows(binary)

    problems: dict[str, list[str]] = {}
    bad_rows = 0
    seen_external_ids: dict[tuple[str, str], int] = {}
    batch: list[tuple[DatabaseConnection, dict]] = []
    created = updated = count = 0
    with transaction.atomic():
        try:
            for line, raw in rows:
                count += 1
                if count > IMPORT_MAX_ROWS:
                    problems["file"] = [
                        f"More than {IMPORT_MAX_ROWS:,} rows; split the file into smaller ones."
                    ]
                    break
                if isinstance(raw, str):
                    row_problems = {"row": [raw]}
                else:
                    record, row_problems = _record(raw, csv_row=file_format == "csv")
                    connection = everyone or connections.get(record["db_connection_id"])
                    if connection is None:
                        row_problems["db_connection_id"] = [
                            "Missing: give db_connection_id on each row or for the whole import."
                            if record["db_connection_id"] is None
                            else f"No database connection with id {record['db_connection_id']!r}."
                        ]
                    else:
                        if "sql" not in row_problems:
                            sql_messages = _sql_problems(record["sql"], connection.dialect)
                            if sql_messages:
                                row_problems["sql"] = list(sql_messages)
                        if record["external_id"] is not None:
                            earlier = seen_external_ids.setdefault(
                                (connection.pk, record["external_id"]), line
                            )
                            if earlier != line:
                                row_problems["external_id"] = [
                                    f"{record['external_id']!r} is also on line {earlier}."
                                ]
                if row_problems:
                    bad_rows += 1
                    if bad_rows <= BAD_ROWS_SHOWN:
                        for field, messages in row_problems.items():
                            problems[f"line {line}.{field}"] = messages
                    continue
                if problems:
                    continue  # nothing will be written: only look for more bad rows
                batch.append((connection, record))
                if len(batch) >= _BATCH:
                    created, updated = _sum((created, updated), _write(batch))
                    batch = []
        except _BadFile as exc:
            problems["file"] = [str(exc)]
        if bad_rows > BAD_ROWS_SHOWN:
            problems["file"] = [
                f"{bad_rows:,} rows are wrong; the first {BAD_ROWS_SHOWN:,} are listed."
            ]
        if not problems and count == 0:
            problems["file"] = ["The file holds no golden records."]
        if problems:
            # Raised inside the transaction: the batches already written are rolled back.
            raise errors.ValidationFailed(problems)
        created, updated = _sum((created, updated), _write(batch))
    return ImportResult(created=created, updated=updated)


def _sum(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def _write(batch: list[tuple[DatabaseConnection, dict]]) -> tuple[int, int]:
    """Create or update one batch of good rows; return (created, updated)."""
    if not batch:
        return 0, 0
    now = timezone.now()
    existing: dict[tuple[str, str], GoldenRecord] = {}
    by_connection: dict[str, list[str]] = {}
    for connection, record in batch:
        if record["external_id"] is not None:
            by_connection.setdefault(connection.pk, []).append(record["external_id"])
    for connection_id, keys in by_connection.items():
        for found in GoldenRecord.objects.filter(
            db_connection_id=connection_id, external_id__in=keys
        ):
            existing[(connection_id, found.external_id)] = found
        for found in GoldenRecord.objects.filter(
            db_connection_id=connection_id, pk__in=keys, external_id__isnull=True
        ):
            existing.setdefault((connection_id, found.pk), found)

    to_create, to_update = [], []
    for connection, record in batch:
        metadata = record["metadata"]
        found = existing.get((connection.pk, record["external_id"]))
        if found is None:
            to_create.append(
                (
                    connection.pk,
                    record["question"],
                    record["sql"],
                    None if metadata is _MISSING else metadata,
                    record["external_id"],
                )
            )
            continue
        found.question, found.sql, found.updated_at = record["question"], record["sql"], now
        if metadata is not _MISSING:
            found.metadata = metadata
        to_update.append(found)
    _insert(to_create, now=now)
    if to_update:
        GoldenRecord.objects.bulk_update(
            to_update, ["question", "sql", "metadata", "updated_at"], batch_size=_BATCH
        )
    return len(to_create), len(to_update)


_INSERTED_FIELDS = (
    "id",
    "db_connection_id",
    "question",
    "sql",
    "metadata",
    "external_id",
    "created_at",
    "updated_at",
)


def _metadata_value(metadata, field):
    if metadata is None:
        return None
    if db_connection.vendor == "postgresql":
        return json.dumps(metadata)  # COPY reads jsonb from its text
    return field.get_db_prep_save(metadata, db_connection)


def _insert(rows: list[tuple], *, now) -> None:
    """Insert checked rows, many per INSERT statement.

    ``bulk_create`` builds a model instance and adapts every value of every row, and
    ``executemany`` sends one statement per row on PostgreSQL: either made 100,000 rows take
    most of a minute. Values are adapted here once per kind (the time stamps) or per row.
    """
    if not rows:
        return
    meta = GoldenRecord._meta
    quote = db_connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _INSERTED_FIELDS)
    row_placeholder = "(" + ", ".join(["%s"] * len(_INSERTED_FIELDS)) + ")"
    per_statement = min(
        _BATCH, (db_connection.features.max_query_params or 65_535) // len(_INSERTED_FIELDS)
    )
    stamp = meta.get_field("created_at").get_db_prep_save(now, db_connection)
    metadata_field = meta.get_field("metadata")
    values = [
        (
            new_id(),
            connection_id,
            question,
            sql,
            _metadata_value(metadata, metadata_field),
            external_id,
            stamp,
            stamp,
        )
        for connection_id, question, sql, metadata, external_id in rows
    ]
    if db_connection.vendor == "postgresql":
        _copy(values, table=quote(meta.db_table), columns=columns)
        return
    with db_connection.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
                + ", ".join([row_placeholder] * len(chunk)),
                [value for row in chunk for value in row],
            )


def _copy(values: list[tuple], *, table: str, columns: str) -> None:
    # PostgreSQL's COPY: the fastest way in by far (a multi-row INSERT of 8,000 parameters
    # spends longer in the driver than in the server).
    with (
        db_connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in values:
            copy.write_row(row)


# --- Export --------------------------------------------------------------------------------


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
