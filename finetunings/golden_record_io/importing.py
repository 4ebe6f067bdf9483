"""The import: every row checked, nothing written unless all are good, memory kept flat."""

from dataclasses import dataclass
from functools import lru_cache

from django.db import transaction

from finetunings import errors, validation
from finetunings.golden_record_io.reading import (
    BadFile,
    binary_file,
    csv_rows,
    jsonl_rows,
    row_record,
)
from finetunings.golden_record_io.writing import BATCH, write_batch
from finetunings.models import DatabaseConnection

IMPORT_MAX_ROWS = 100_000
# 100,000 rows of long questions and SQL fit well within this; a larger upload is refused
# before any of it is read.
IMPORT_MAX_BYTES = 256 * 1024 * 1024
# Bad rows named in one answer; past that the answer says how many more there are.
BAD_ROWS_SHOWN = 1000


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


# Parsing the same SQL again (an updated export imported anew) costs nothing.
@lru_cache(maxsize=20_000)
def _sql_problems(sql: str, dialect: str) -> tuple[str, ...]:
    return tuple(validation.sql_problems(sql, dialect))


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
    binary = binary_file(file)
    rows = csv_rows(binary) if file_format == "csv" else jsonl_rows(binary)
    with transaction.atomic():
        # Raised inside the transaction: the batches already written are rolled back.
        return _Import(connections, everyone, csv_rows=file_format == "csv").run(rows)


class _Import:
    """One import's running state: the problems so far, the batch to write, the counts."""

    def __init__(self, connections: _Connections, everyone, *, csv_rows: bool):
        self.connections = connections
        self.everyone = everyone
        self.csv_rows = csv_rows
        self.problems: dict[str, list[str]] = {}
        self.bad_rows = 0
        self.seen_external_ids: dict[tuple[str, str], int] = {}
        self.batch: list[tuple[DatabaseConnection, dict]] = []
        self.created = self.updated = 0

    def run(self, rows) -> ImportResult:
        count = 0
        try:
            for line, raw in rows:
                count += 1
                if count > IMPORT_MAX_ROWS:
                    self.problems["file"] = [
                        f"More than {IMPORT_MAX_ROWS:,} rows; split the file into smaller ones."
                    ]
                    break
                self._take(line, raw)
        except BadFile as exc:
            self.problems["file"] = [str(exc)]
        if self.bad_rows > BAD_ROWS_SHOWN:
            self.problems["file"] = [
                f"{self.bad_rows:,} rows are wrong; the first {BAD_ROWS_SHOWN:,} are listed."
            ]
        if not self.problems and count == 0:
            self.problems["file"] = ["The file holds no golden records."]
        if self.problems:
            raise errors.ValidationFailed(self.problems)
        self._flush()
        return ImportResult(created=self.created, updated=self.updated)

    def _take(self, line: int, raw) -> None:
        connection, record, row_problems = self._check(line, raw)
        if row_problems:
            self.bad_rows += 1
            if self.bad_rows <= BAD_ROWS_SHOWN:
                for field, messages in row_problems.items():
                    self.problems[f"line {line}.{field}"] = messages
            return
        if self.problems:
            return  # nothing will be written: only look for more bad rows
        self.batch.append((connection, record))
        if len(self.batch) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        created, updated = write_batch(self.batch)
        self.created += created
        self.updated += updated
        self.batch = []

    def _check(self, line: int, raw):
        """The row's connection, its fields, and what is wrong with it."""
        if isinstance(raw, str):
            return None, None, {"row": [raw]}
        record, row_problems = row_record(raw, csv_row=self.csv_rows)
        connection = self.everyone or self.connections.get(record["db_connection_id"])
        if connection is None:
            row_problems["db_connection_id"] = [
                "Missing: give db_connection_id on each row or for the whole import."
                if record["db_connection_id"] is None
                else f"No database connection with id {record['db_connection_id']!r}."
            ]
            return None, record, row_problems
        if "sql" not in row_problems:
            sql_messages = _sql_problems(record["sql"], connection.dialect)
            if sql_messages:
                row_problems["sql"] = list(sql_messages)
        if record["external_id"] is not None:
            key = (connection.pk, record["external_id"])
            earlier = self.seen_external_ids.setdefault(key, line)
            if earlier != line:
                row_problems["external_id"] = [
                    f"{record['external_id']!r} is also on line {earlier}."
                ]
        return connection, record, row_problems
