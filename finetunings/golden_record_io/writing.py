"""Writing an import's good rows: batched creates and updates, COPY on PostgreSQL."""

import json
from datetime import timedelta
from itertools import accumulate, repeat

from django.db import connection as db_connection
from django.utils import timezone

from finetunings.golden_record_io.reading import MISSING
from finetunings.models import DatabaseConnection, GoldenRecord, new_id

BATCH = 1000
_MICROSECOND = timedelta(microseconds=1)


def write_batch(batch: list[tuple[DatabaseConnection, dict]]) -> tuple[int, int]:
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
                    None if metadata is MISSING else metadata,
                    record["external_id"],
                )
            )
            continue
        found.question, found.sql, found.updated_at = record["question"], record["sql"], now
        if metadata is not MISSING:
            found.metadata = metadata
        to_update.append(found)
    insert_golden_records(to_create, now=now)
    if to_update:
        GoldenRecord.objects.bulk_update(
            to_update, ["question", "sql", "metadata", "updated_at"], batch_size=BATCH
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


def creation_stamps(now, count: int) -> list:
    """One time stamp per record of a request, a microsecond apart from ``now`` on.

    A job takes its connection's records in creation order; records created by one
    request keep the order they were given in rather than tie (and sort by their ids).
    """
    if count <= 0:
        return []
    return list(accumulate(repeat(_MICROSECOND, count - 1), initial=now))


def _row_values(rows: list[tuple], *, now, in_order: bool) -> list[tuple]:
    """Each row as the table's columns, with a new id and its stamps adapted for the database."""
    meta = GoldenRecord._meta
    # What the field's get_db_prep_save does to an aware datetime, without its per-value
    # checks: 10,000 of them cost a bulk create more than a tenth of its floor.
    adapt = db_connection.ops.adapt_datetimefield_value
    stamps = (
        [adapt(stamp) for stamp in creation_stamps(now, len(rows))]
        if in_order
        else [meta.get_field("created_at").get_db_prep_save(now, db_connection)] * len(rows)
    )
    metadata_field = meta.get_field("metadata")
    return [
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
        for (connection_id, question, sql, metadata, external_id), stamp in zip(
            rows, stamps, strict=True
        )
    ]


def insert_golden_records(rows: list[tuple], *, now, in_order: bool = False) -> list[str]:
    """Insert checked rows, many per INSERT statement (COPY on PostgreSQL); their new ids.

    Each row is ``(db_connection_id, question, sql, metadata, external_id)``; every row
    is created at ``now``, or with ``in_order`` at ``creation_stamps(now, len(rows))``.

    ``bulk_create`` builds a model instance and adapts every value of every row, and
    ``executemany`` sends one statement per row on PostgreSQL: either made 100,000 rows take
    most of a minute. Values are adapted here once per kind (the time stamps) or per row.
    """
    if not rows:
        return []
    meta = GoldenRecord._meta
    quote = db_connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _INSERTED_FIELDS)
    values = _row_values(rows, now=now, in_order=in_order)
    if db_connection.vendor == "postgresql":
        _copy(values, table=quote(meta.db_table), columns=columns)
        return [row[0] for row in values]
    row_placeholder = "(" + ", ".join(["%s"] * len(_INSERTED_FIELDS)) + ")"
    per_statement = min(
        BATCH, (db_connection.features.max_query_params or 65_535) // len(_INSERTED_FIELDS)
    )
    with db_connection.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
                + ", ".join([row_placeholder] * len(chunk)),
                [value for row in chunk for value in row],
            )
    return [row[0] for row in values]


def _copy(values: list[tuple], *, table: str, columns: str) -> None:
    # PostgreSQL's COPY: the fastest way in by far (a multi-row INSERT of 8,000 parameters
    # spends longer in the driver than in the server).
    with (
        db_connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in values:
            copy.write_row(row)
