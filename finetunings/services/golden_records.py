"""Golden records: the question and SQL pairs a job trains on."""

import functools

from django.db import transaction
from django.utils import timezone

from finetunings import errors, validation
from finetunings.golden_record_io.writing import creation_stamps, insert_golden_records
from finetunings.models import DatabaseConnection, GoldenRecord
from finetunings.services.base import raise_if, refuse_unknown_fields
from finetunings.services.connections import lock_alive_connections, no_connection

# ``db_connection_id`` is accepted only unchanged: a record never moves (see below).
GOLDEN_RECORD_EDITABLE_FIELDS = frozenset({"question", "sql", "metadata", "db_connection_id"})


def golden_records_create(*, records: list[dict]) -> list[GoldenRecord]:
    """Create golden records, all or none; the records as written (``GoldenRecord``s).

    Each item has ``db_connection_id``, ``question``, ``sql`` and optionally ``metadata``.
    Problems are reported per item as ``<index>.<field>`` when more than one is given.
    """
    return [_instance(row) for row in golden_records_create_rows(records=records)]


def golden_records_create_rows(*, records: list[dict]) -> list[dict]:
    """``golden_records_create``, answered with plain rows rather than model instances.

    Each row holds the record's fields by name, as written (nothing is re-read): ``id``,
    ``db_connection_id``, ``question``, ``sql``, ``metadata``, ``external_id``,
    ``created_at`` and ``updated_at``. 10,000 model instances would cost a bulk create
    more than its writing.
    """
    too_much = validation.total_sql_problem(records)
    if too_much:
        raise errors.TooMuchSQL({"sql": [too_much]}, message=too_much)
    connection_ids = {record["db_connection_id"] for record in records}
    connections = DatabaseConnection.objects.alive().in_bulk(connection_ids)
    raise_if(_problems(records, connections))
    rows = [
        (
            record["db_connection_id"],
            record["question"],
            record["sql"],
            record.get("metadata"),
            None,
        )
        for record in records
    ]
    now = timezone.now()
    with transaction.atomic():
        alive = lock_alive_connections(connection_ids)
        raise_if(
            {
                f"{index}." * (len(records) > 1) + "db_connection_id": no_connection(
                    record["db_connection_id"]
                )
                for index, record in enumerate(records)
                if record["db_connection_id"] not in alive
            }
        )
        ids = insert_golden_records(rows, now=now, in_order=True)
    return _written(ids, rows, creation_stamps(now, len(rows)))


def _written(ids: list[str], rows: list[tuple], stamps: list) -> list[dict]:
    """The rows ``insert_golden_records`` wrote, by field name."""
    return [
        {
            "id": record_id,
            "db_connection_id": connection_id,
            "question": question,
            "sql": sql,
            "metadata": metadata,
            "external_id": external_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for record_id, (connection_id, question, sql, metadata, external_id), stamp in zip(
            ids, rows, stamps, strict=True
        )
    ]


def _problems(records: list[dict], connections: dict) -> dict[str, list[str]]:
    """What is wrong with each record (``<index>.<field>`` when there are several)."""
    problems: dict[str, list[str]] = {}
    # Imports repeat statements (one per hundred records is common): each distinct
    # statement is parsed once per dialect, the costliest step of an import.
    sql_problems = functools.cache(validation.sql_problems)
    many = len(records) > 1
    for index, record in enumerate(records):
        connection = connections.get(record["db_connection_id"])
        if connection is None:
            field, messages = "db_connection_id", no_connection(record["db_connection_id"])
        else:
            field, messages = "sql", sql_problems(record["sql"], connection.dialect)
        metadata_messages = validation.metadata_problems(record.get("metadata"))
        # Keys only for the records that have problems: most requests have none.
        if messages or metadata_messages:
            prefix = f"{index}." if many else ""
            problems[f"{prefix}{field}"] = list(messages)
            problems[f"{prefix}metadata"] = metadata_messages
    return problems


def _instance(row: dict) -> GoldenRecord:
    """The record of ``row`` as if read back (nothing is re-read)."""
    record = GoldenRecord(**row)
    record._state.adding, record._state.db = False, "default"
    return record


def golden_record_update(*, golden_record: GoldenRecord, **changes) -> GoldenRecord:
    """Change the given fields, and only those, so a concurrent edit of others survives."""
    refuse_unknown_fields(changes, GOLDEN_RECORD_EDITABLE_FIELDS, what="golden record")
    with transaction.atomic():
        golden_record = GoldenRecord.objects.select_for_update().filter(pk=golden_record.pk).first()
        if golden_record is None:
            raise errors.DeletedMeanwhile("golden record")
        if changes.get("db_connection_id", golden_record.db_connection_id) != (
            golden_record.db_connection_id
        ):
            # Its SQL answers a question about one schema, and that connection's jobs may
            # already list it: a move would take it from under them.
            raise errors.GoldenRecordConnectionFixed()
        changes.pop("db_connection_id", None)
        connection = (
            DatabaseConnection.objects.alive().filter(pk=golden_record.db_connection_id).first()
        )
        problems: dict[str, list[str]] = {}
        if connection is None:
            problems["db_connection_id"] = no_connection(golden_record.db_connection_id)
        elif "sql" in changes:
            problems["sql"] = validation.sql_problems(changes["sql"], connection.dialect)
        if "metadata" in changes:
            problems["metadata"] = validation.metadata_problems(changes["metadata"])
        raise_if(problems)
        if not changes:
            return golden_record
        for field, value in changes.items():
            setattr(golden_record, field, value)
        golden_record.save(update_fields=[*sorted(changes), "updated_at"])
    return golden_record


def golden_record_delete(*, golden_record: GoldenRecord) -> None:
    # Jobs keep the ids they were created with; a job not yet submitted reports the
    # missing records when its training file is built.
    golden_record.delete()
