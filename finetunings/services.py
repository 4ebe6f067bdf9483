"""Every write and state change of the fine-tuning domain.

Views, the admin and the worker call these functions and present the result; none of
them changes a model directly. A status change is always a conditional update (compare
and swap on the current status) that writes its ``FinetuningEvent`` in the same
transaction, so two processes can never both win the same transition.
"""

import base64
import binascii
import csv
import hashlib
import io
import logging
import math
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    transaction,
)
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from finetunings import errors, validation, validation_split
from finetunings.models import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    SUBMITTABLE_STATUSES,
    TERMINAL_STATUSES,
    APIKey,
    DatabaseConnection,
    Finetuning,
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningMetric,
    FinetuningStatus,
    GoldenRecord,
    ProviderPause,
    WorkerHeartbeat,
    new_id,
)
from finetunings.ops import context as ops_context
from finetunings.providers import ProviderError, ProviderRejected, get_provider

logger = logging.getLogger(__name__)

# --- Database connections -------------------------------------------------------------


def _alias_taken(alias: str, *, exclude_id: str | None = None) -> bool:
    qs = DatabaseConnection.objects.alive().filter(alias=alias)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


def _raise_if(problems: dict[str, list[str]]) -> None:
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise errors.ValidationFailed(problems)


def database_connection_create(
    *,
    alias: str,
    dialect: str,
    connection_uri: str,
    schema: str = "",
    metadata=None,
    allow_execution: bool = False,
) -> DatabaseConnection:
    _raise_if(
        {
            "alias": ["A database connection with this alias already exists."]
            if _alias_taken(alias)
            else [],
            "connection_uri": validation.connection_uri_problems(connection_uri, dialect),
            "metadata": validation.metadata_problems(metadata),
        }
    )
    connection = DatabaseConnection(
        alias=alias,
        dialect=dialect,
        schema=schema,
        metadata=metadata,
        allow_execution=allow_execution,
    )
    connection.connection_uri = connection_uri
    try:
        connection.save()
    except IntegrityError:  # lost a race for the alias
        raise errors.ValidationFailed(
            {"alias": ["A database connection with this alias already exists."]}
        ) from None
    return connection


def database_connection_update(*, connection: DatabaseConnection, **changes) -> DatabaseConnection:
    """Change the given fields, and only those, so a concurrent edit of others survives."""
    with transaction.atomic():
        # Checked against the row as it is now (a concurrent edit may have changed the
        # dialect or the URI whose fit is checked), and locked until written.
        connection = (
            DatabaseConnection.objects.alive().select_for_update().filter(pk=connection.pk).first()
        )
        if connection is None:
            raise errors.DeletedMeanwhile("database connection")
        problems = {}
        if "alias" in changes and _alias_taken(changes["alias"], exclude_id=connection.pk):
            problems["alias"] = ["A database connection with this alias already exists."]
        if "metadata" in changes:
            problems["metadata"] = validation.metadata_problems(changes["metadata"])
        if "connection_uri" in changes or "dialect" in changes:
            # Either one can break their fit: a new dialect is checked against the stored URI.
            problems["connection_uri"] = validation.connection_uri_problems(
                changes.get("connection_uri", connection.connection_uri),
                changes.get("dialect", connection.dialect),
            )
        _raise_if(problems)
        if not changes:
            return connection
        for field, value in changes.items():
            setattr(connection, field, value)  # connection_uri goes through the encrypting setter
        columns = {"connection_uri_encrypted" if f == "connection_uri" else f for f in changes}
        try:
            connection.save(update_fields=[*sorted(columns), "updated_at"])
        except IntegrityError:
            raise errors.ValidationFailed(
                {"alias": ["A database connection with this alias already exists."]}
            ) from None
    return connection


def _lock_alive_connections(connection_ids) -> set[str]:
    """Lock the rows of the given connections that are not deleted; return their ids.

    Called inside the transaction that writes what depends on them (a job, golden records):
    ``database_connection_delete`` takes the same row lock, so a check made here still
    holds when the write commits. (On SQLite, whose transactions here take the write lock
    when they begin, the transaction alone serialises them.)
    """
    return set(
        DatabaseConnection.objects.alive()
        .select_for_update()
        .filter(pk__in=connection_ids)
        .order_by("pk")  # one locking order for every caller: no deadlocks
        .values_list("pk", flat=True)
    )


def _no_connection(connection_id) -> list[str]:
    return [f"No database connection with id {connection_id!r}."]


def database_connection_delete(*, connection: DatabaseConnection) -> None:
    """Delete a connection that has no active job.

    The row stays (its jobs are history and keep their ``db_connection_id``) but its secret
    is wiped, its alias is freed and its golden records are deleted. The row lock makes
    this one step with respect to creating jobs and golden records on the connection.
    """
    with transaction.atomic():
        locked = DatabaseConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.finetunings.filter(status__in=ACTIVE_STATUSES).exists():
            raise errors.ConnectionInUse()
        locked.golden_records.all().delete()
        DatabaseConnection.objects.filter(pk=locked.pk).update(
            deleted_at=timezone.now(), connection_uri_encrypted=""
        )


# --- Golden records ---------------------------------------------------------------------


def golden_records_create(*, records: list[dict]) -> list[GoldenRecord]:
    """Create golden records, all or none.

    Each item has ``db_connection_id``, ``question``, ``sql`` and optionally ``metadata``.
    Problems are reported per item as ``<index>.<field>`` when more than one is given.
    """
    too_much = validation.total_sql_problem(records)
    if too_much:
        raise errors.TooMuchSQL({"sql": [too_much]}, message=too_much)
    connection_ids = {record["db_connection_id"] for record in records}
    connections = DatabaseConnection.objects.alive().in_bulk(connection_ids)
    problems: dict[str, list[str]] = {}
    for index, record in enumerate(records):
        prefix = f"{index}." if len(records) > 1 else ""
        connection = connections.get(record["db_connection_id"])
        if connection is None:
            problems[f"{prefix}db_connection_id"] = [
                f"No database connection with id {record['db_connection_id']!r}."
            ]
        else:
            problems[f"{prefix}sql"] = validation.sql_problems(record["sql"], connection.dialect)
        problems[f"{prefix}metadata"] = validation.metadata_problems(record.get("metadata"))
    _raise_if(problems)
    objects = [
        GoldenRecord(
            db_connection_id=record["db_connection_id"],
            question=record["question"],
            sql=record["sql"],
            metadata=record.get("metadata"),
        )
        for record in records
    ]
    with transaction.atomic():
        alive = _lock_alive_connections(connection_ids)
        _raise_if(
            {
                f"{index}." * (len(records) > 1) + "db_connection_id": _no_connection(
                    record["db_connection_id"]
                )
                for index, record in enumerate(records)
                if record["db_connection_id"] not in alive
            }
        )
        return GoldenRecord.objects.bulk_create(objects, batch_size=500)


def golden_record_update(*, golden_record: GoldenRecord, **changes) -> GoldenRecord:
    """Change the given fields, and only those, so a concurrent edit of others survives."""
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
            problems["db_connection_id"] = [
                f"No database connection with id {golden_record.db_connection_id!r}."
            ]
        elif "sql" in changes:
            problems["sql"] = validation.sql_problems(changes["sql"], connection.dialect)
        if "metadata" in changes:
            problems["metadata"] = validation.metadata_problems(changes["metadata"])
        _raise_if(problems)
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


# --- Fine-tuning jobs: creation and plain edits -----------------------------------------


def _default_alias(connection: DatabaseConnection, finetuning_id: str) -> str:
    """``<connection>_<YYYYmmddHHMM>_<start of the job id>``: readable, and one per job.

    The time alone gave every job of an hour the same alias; the id's start tells them
    apart, and in the unlikely case that it does not, the whole id does.
    """
    alias = f"{connection.alias}_{timezone.now():%Y%m%d%H%M}_{finetuning_id[:6]}"
    if Finetuning.objects.filter(db_connection=connection, alias=alias).exists():
        alias = f"{connection.alias}_{finetuning_id}"
    return alias


def finetuning_create_problems(
    *,
    db_connection_id: str,
    base_llm: dict | None = None,
    golden_records: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    **validation_request,
) -> dict[str, list[str]]:
    """What ``finetuning_create`` would refuse, by field; empty when it would start the job.

    For forms (the admin's "add" page) that show the problems next to their fields.
    """
    problems, _plan = _finetuning_create_plan(
        db_connection_id=db_connection_id,
        base_llm=base_llm,
        golden_records=golden_records,
        metadata=metadata,
        validation_request=validation_request,
    )
    return {field: messages for field, messages in problems.items() if messages}


def _finetuning_create_plan(
    *, db_connection_id, base_llm, golden_records, metadata, validation_request
):
    base_llm = base_llm or {}
    model_provider = base_llm.get("model_provider") or settings.FINETUNING_DEFAULT_PROVIDER
    model_name = base_llm.get("model_name") or settings.FINETUNING_DEFAULT_MODEL
    model_parameters = base_llm.get("model_parameters") or {}

    problems: dict[str, list[str]] = {"metadata": validation.metadata_problems(metadata)}
    for field, messages in validation.base_llm_problems(model_provider, model_name).items():
        problems[f"base_llm.{field}"] = messages
    for field, messages in validation.model_parameters_problems(model_parameters).items():
        problems[f"base_llm.model_parameters.{field}".rstrip(".")] = messages

    record_ids: list[str] = []
    split_fields: dict = {}
    connection = DatabaseConnection.objects.alive().filter(pk=db_connection_id).first()
    if connection is None:
        problems["db_connection_id"] = [f"No database connection with id {db_connection_id!r}."]
    else:
        record_ids, record_problems = _golden_record_ids(connection, golden_records)
        problems["golden_records"] = record_problems
        # The validation split (validation_split.py): held-out ids leave the training part.
        if not record_problems:
            split_problems, record_ids, split_fields = validation_split.plan(
                connection=connection,
                training_ids=record_ids,
                all_of_connection=golden_records is None,
                **validation_request,
            )
            problems.update(split_problems)
    return problems, (
        connection,
        model_provider,
        model_name,
        model_parameters,
        record_ids,
        split_fields,
    )


def finetuning_create(
    *,
    db_connection_id: str,
    actor: str,
    alias: str | None = None,
    base_llm: dict | None = None,
    golden_records: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    **validation_request,
) -> Finetuning:
    """A queued job; ``validation_request``: see ``validation_split.plan``."""
    problems, plan = _finetuning_create_plan(
        db_connection_id=db_connection_id,
        base_llm=base_llm,
        golden_records=golden_records,
        metadata=metadata,
        validation_request=validation_request,
    )
    _raise_if(problems)
    connection, model_provider, model_name, model_parameters, record_ids, split_fields = plan

    finetuning_id = new_id()
    with transaction.atomic():
        if not _lock_alive_connections([connection.pk]):
            raise errors.ValidationFailed({"db_connection_id": _no_connection(db_connection_id)})
        finetuning = Finetuning.objects.create(
            id=finetuning_id,
            db_connection=connection,
            alias=alias or _default_alias(connection, finetuning_id),
            model_provider=model_provider,
            model_name=model_name,
            model_parameters=model_parameters,
            golden_records=record_ids,
            metadata=metadata,
            **split_fields,
        )
        FinetuningEvent.objects.create(
            finetuning=finetuning,
            kind=FinetuningEventKind.CREATED,
            actor=actor,
            to_status=finetuning.status,
            message=f"Created with {len(record_ids)} golden records"
            + validation_split.created_note(split_fields)
            + ".",
        )
    return finetuning


# Ids per IN (...) query: under SQLite's bound-parameter limit, and cheap everywhere.
_IN_QUERY_CHUNK = 900


def _golden_record_ids(
    connection: DatabaseConnection, requested: list[str] | None
) -> tuple[list[str], list[str]]:
    """The ids the job will train on, and what is wrong with the request's list."""
    if requested is None:
        ids = list(
            connection.golden_records.order_by("created_at", "id").values_list("id", flat=True)
        )
        if len(ids) < validation.GOLDEN_RECORDS_MINIMUM:
            return ids, [
                f"At least {validation.GOLDEN_RECORDS_MINIMUM} golden records are required; "
                f"the connection {connection.alias!r} has {len(ids)}."
            ]
        return ids, []

    problems = []
    if len(requested) > validation.GOLDEN_RECORDS_MAXIMUM:
        return requested, [
            f"At most {validation.GOLDEN_RECORDS_MAXIMUM} golden record ids may be listed; got "
            f"{len(requested)} (omit golden_records to train on all of the connection's)."
        ]
    duplicates = validation.repeated(requested)
    if duplicates:
        problems.append(f"Golden record ids are repeated: {validation.name_ids(duplicates)}.")
    unique = list(dict.fromkeys(requested))
    owners: dict[str, str] = {}
    for start in range(0, len(unique), _IN_QUERY_CHUNK):
        chunk = unique[start : start + _IN_QUERY_CHUNK]
        owners.update(
            GoldenRecord.objects.filter(pk__in=chunk).values_list("id", "db_connection_id")
        )
    unknown = [i for i in unique if i not in owners]
    foreign = [i for i in unique if owners.get(i, connection.pk) != connection.pk]
    if unknown:
        problems.append(f"Unknown golden record ids: {validation.name_ids(unknown)}.")
    if foreign:
        problems.append(
            "These golden records belong to another database connection: "
            f"{validation.name_ids(foreign)}."
        )
    if len(unique) < validation.GOLDEN_RECORDS_MINIMUM:
        problems.append(
            f"At least {validation.GOLDEN_RECORDS_MINIMUM} golden records are required; "
            f"got {len(unique)}."
        )
    return list(requested), problems


def finetuning_update(*, finetuning: Finetuning, actor: str, **changes) -> Finetuning:
    """Change the user-owned fields of a job (``alias``, ``metadata``), at any status."""
    if "metadata" in changes:
        _raise_if({"metadata": validation.metadata_problems(changes["metadata"])})
    if not changes:
        return finetuning
    with transaction.atomic():
        if not Finetuning.objects.filter(pk=finetuning.pk).update(
            **changes, updated_at=timezone.now()
        ):
            raise errors.DeletedMeanwhile("fine-tuning job")  # else its event would be orphaned
        FinetuningEvent.objects.create(
            finetuning=finetuning,
            kind=FinetuningEventKind.METADATA_UPDATED,
            actor=actor,
            message=f"Updated {', '.join(sorted(changes))}.",
            data=changes,
        )
    finetuning.refresh_from_db()
    return finetuning


def finetuning_delete(*, finetuning: Finetuning) -> None:
    """Delete a finished job, its timeline, and (once that is committed) its kept file."""
    kept_files = (
        Finetuning.objects.filter(pk=finetuning.pk)
        .values_list("training_file", "validation_file")
        .first()
    ) or ()
    with transaction.atomic():
        deleted, _ = Finetuning.objects.filter(
            pk=finetuning.pk, status__in=TERMINAL_STATUSES
        ).delete()
        for kept_file in kept_files if deleted else ():
            if kept_file:
                # Only after the commit: a rolled-back delete must still find its file.
                transaction.on_commit(lambda name=kept_file: default_storage.delete(name))
    if not deleted:
        raise errors.FinetuningActive()


# --- Fine-tuning jobs: the status machine ------------------------------------------------

_TRANSITION_ATTEMPTS = 6


def finetuning_transition(
    *,
    finetuning_id: str,
    to_status: str,
    actor: str,
    message: str = "",
    fields: dict | None = None,
    only_if: Q | None = None,
    event_data: dict | None = None,
) -> bool:
    """Move a job to ``to_status`` if the status machine allows it; return whether it moved.

    Compare-and-swap on the status just read, so exactly one of several concurrent callers
    wins; ``only_if`` adds conditions the row must also meet (for example "no provider job
    yet"). ``fields`` are written in the same UPDATE, the event in the same transaction.
    """
    fields = dict(fields or {})
    now = timezone.now()
    if to_status in TERMINAL_STATUSES:
        # A finished job waits for nothing: no "will try again at ..." may outlive it.
        fields.setdefault("status_message", None)
        fields.setdefault("finished_at", now)
        fields.setdefault("lease_owner", None)
        fields.setdefault("lease_until", None)
        fields.setdefault("cancel_lease_until", None)
        fields.setdefault("cancel_request", None)
    # Each lost swap means the status moved on; the machine is short, so this ends quickly.
    for _attempt in range(_TRANSITION_ATTEMPTS):
        current = (
            Finetuning.objects.filter(pk=finetuning_id).values_list("status", flat=True).first()
        )
        if current is None or to_status not in ALLOWED_TRANSITIONS[current]:
            return False
        with transaction.atomic():
            rows = Finetuning.objects.filter(pk=finetuning_id, status=current)
            if only_if is not None:
                rows = rows.filter(only_if)
            if rows.update(status=to_status, updated_at=now, **fields):
                FinetuningEvent.objects.create(
                    finetuning_id=finetuning_id,
                    kind=FinetuningEventKind.STATUS_CHANGED,
                    actor=actor,
                    from_status=current,
                    to_status=to_status,
                    message=message,
                    data=event_data,
                )
                return True
        if (
            only_if is not None
            and Finetuning.objects.filter(pk=finetuning_id, status=current).exists()
        ):
            return False  # the status did not move: the extra condition is what failed
    return False


def finetuning_record_event(
    *, finetuning_id: str, kind: str, actor: str, message: str = "", data=None, **extra
) -> FinetuningEvent:
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id, kind=kind, actor=actor, message=message, data=data, **extra
    )


def finetuning_apply_provider_job(*, finetuning: Finetuning, remote, actor: str) -> bool:
    """Bring a job in line with what the provider reports about it; return whether it moved.

    An unknown provider status changes nothing but the stored raw status: it is not terminal.
    """
    mapped = remote.mapped_status
    fields = {"provider_status": remote.status}
    if (finetuning.status_message or "").startswith(PROVIDER_PROBLEM_PREFIX):
        fields["status_message"] = None  # the provider answers about it again
    training = _training_fields(finetuning, remote)
    fields.update(training)
    if mapped == FinetuningStatus.SUCCEEDED:
        fields["model_id"] = remote.fine_tuned_model
        fields["error"] = None
    elif mapped == FinetuningStatus.FAILED:
        fields["error"] = remote.error_message or "The provider reported that the job failed."
        fields["error_code"] = getattr(remote, "error_code", None)
        fields["error_param"] = getattr(remote, "error_param", None)
    if mapped is None or mapped == finetuning.status:
        # Most polls find nothing new: those write nothing at all.
        if remote.status != finetuning.provider_status or "status_message" in fields or training:
            Finetuning.objects.filter(pk=finetuning.pk, status__in=ACTIVE_STATUSES).update(**fields)
        return False
    only_if = None
    if mapped == FinetuningStatus.CANCELLED:
        request = (
            Finetuning.objects.filter(pk=finetuning.pk)
            .values_list("cancel_request", flat=True)
            .first()
        )
        if request:
            # A user's cancel that the provider accepted: recorded as theirs, whether or not
            # the request that asked could write it (its database connection may have died).
            return _record_requested_cancel(
                finetuning.pk, request=request, provider_status=remote.status
            )
        # The provider's "cancelled" without a user's cancel in flight; should a cancel be in
        # flight after all, the process holding the lease records it.
        now = timezone.now()
        only_if = Q(cancel_lease_until__isnull=True) | Q(cancel_lease_until__lt=now)
    return finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=mapped,
        actor=actor,
        message=f"The provider reports {remote.status}.",
        fields=fields,
        only_if=only_if,
        event_data={"provider_status": remote.status},
    )


def _training_fields(finetuning: Finetuning, remote) -> dict:
    """What the provider now reports about the training that differs from what is stored.

    A value the provider leaves out (None) keeps the one stored: ``estimated_finish`` goes
    away when a job ends, and the last estimate is still worth showing.
    """
    reported = {
        "trained_tokens": getattr(remote, "trained_tokens", None),
        "estimated_finish": getattr(remote, "estimated_finish", None),
        "provider_hyperparameters": getattr(remote, "hyperparameters", None),
    }
    return {
        name: value
        for name, value in reported.items()
        if value is not None and value != getattr(finetuning, name)
    }


# --- Training metrics --------------------------------------------------------------------


def _metric_number(value, *, integer: bool = False):
    # Figures come from the provider's JSON or CSV: anything but a finite number is dropped
    # (a NaN would not survive the API's JSON), and steps must fit the column.
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if integer:
        if value != int(value) or not 0 <= value <= 2**31 - 1:
            return None
        return int(value)
    return float(value)


# The result file's column names that differ from ours (OpenAI's CSV says "train_accuracy").
_RESULT_FILE_ALIASES = {
    "train_accuracy": "train_mean_token_accuracy",
    "valid_accuracy": "valid_mean_token_accuracy",
    "valid_token_accuracy": "valid_mean_token_accuracy",
}


def metric_values(data: dict) -> tuple[int, dict] | None:
    """``(step, values)`` from one step's figures (an event's data or a CSV row), or None."""
    step = _metric_number(data.get("step"), integer=True)
    if step is None:
        return None
    values = {}
    for key, value in data.items():
        name = _RESULT_FILE_ALIASES.get(key, key)
        if name in FinetuningMetric.VALUE_FIELDS and values.get(name) is None:
            values[name] = _metric_number(value, integer=name == "total_steps")
    return step, values


def finetuning_metric_rows_from_events(items: list) -> list[FinetuningMetric]:
    """One row per job and step from the ``metrics`` events of a batch (merged per step)."""
    merged: dict[tuple[str, int], dict] = {}
    for finetuning, events, _cursor in items:
        for event, _sequence in events:
            if getattr(event, "type", "message") != "metrics" or not isinstance(event.data, dict):
                continue
            found = metric_values(event.data)
            if found is None:
                continue
            step, values = found
            row = merged.setdefault((finetuning.pk, step), {})
            row.update({name: value for name, value in values.items() if value is not None})
    return [
        FinetuningMetric(finetuning_id=finetuning_id, step=step, **values)
        for (finetuning_id, step), values in merged.items()
    ]


def parse_result_file(content: bytes) -> list[tuple[int, dict]]:
    """The per-step rows of a result file: CSV, plain or base64-encoded (as OpenAI serves it)."""
    text = _result_file_text(content)
    if text is None:
        return []
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        found = metric_values({(key or "").strip(): value for key, value in record.items()})
        if found is not None:
            rows.append(found)
    return rows


def _result_file_text(content: bytes) -> str | None:
    def csv_text(raw: bytes) -> str | None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
        return text if text.lstrip().startswith("step") else None

    text = csv_text(content)
    if text is not None:
        return text
    try:
        return csv_text(base64.b64decode(b"".join(content.split()), validate=True))
    except (binascii.Error, ValueError):
        return None


def finetuning_record_result_file(*, finetuning: Finetuning, content: bytes) -> int:
    """Complete a job's metrics from its result file; returns how many steps it held.

    The file is the provider's full table: it fills the steps no event brought and the
    figures an event left out, while a figure only an event had is kept.
    """
    rows = parse_result_file(content)
    if not rows:
        return 0
    last_step = max(step for step, _values in rows)
    with transaction.atomic():
        stored = {
            metric.step: metric
            for metric in FinetuningMetric.objects.filter(finetuning=finetuning).only(
                "step", *FinetuningMetric.VALUE_FIELDS
            )
        }
        complete = []
        for step, values in rows:
            known = stored.get(step)
            merged = {
                name: values.get(name)
                if values.get(name) is not None
                else (getattr(known, name) if known is not None else None)
                for name in FinetuningMetric.VALUE_FIELDS
            }
            if merged["total_steps"] is None:
                merged["total_steps"] = last_step  # the job ended: its last step is the total
            complete.append(FinetuningMetric(finetuning_id=finetuning.pk, step=step, **merged))
        FinetuningMetric.objects.bulk_create(
            complete,
            update_conflicts=True,
            unique_fields=["finetuning", "step"],
            update_fields=list(FinetuningMetric.VALUE_FIELDS),
            batch_size=1000,
        )
    return len(rows)


def finetuning_record_checkpoints_of_batch(*, items: list) -> int:
    """Store the checkpoints a refresh batch read: ``(finetuning, [ProviderCheckpoint])``.

    One statement for the batch; a checkpoint read again is updated in place.
    """
    rows = [
        FinetuningCheckpoint(
            finetuning_id=finetuning.pk,
            provider_checkpoint_id=checkpoint.id,
            step=checkpoint.step,
            model_id=checkpoint.model_id,
            metrics={
                name: number
                for name, value in (checkpoint.metrics or {}).items()
                if (number := _metric_number(value)) is not None
            },
            created_at=checkpoint.created_at,
        )
        for finetuning, checkpoints in items
        for checkpoint in {found.id: found for found in checkpoints}.values()
        if isinstance(checkpoint.step, int) and 0 <= checkpoint.step <= 2**31 - 1
    ]
    if rows:
        FinetuningCheckpoint.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["finetuning", "provider_checkpoint_id"],
            update_fields=["step", "model_id", "metrics", "created_at"],
            batch_size=500,
        )
    return len(rows)


# --- Cancel ------------------------------------------------------------------------------

# Metadata key under which each provider job carries our job's id: how a create whose
# answer was lost is found again (see ``worker.submit_job``).
PROVIDER_METADATA_KEY = "finetuning_id"
FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE = (
    "Found the provider job {job_id}, created for this job but never recorded (the create's "
    "answer was lost or its worker stopped), by this job's id in its metadata."
)


def finetuning_cancel(
    *, finetuning: Finetuning, actor: str, metadata: dict[str, str] | None = None
) -> Finetuning:
    """Cancel a job: stop it at the provider if it runs there, and keep it as ``cancelled``.

    - ``succeeded``/``failed``: ``FinetuningNotCancellable``; already ``cancelled``: returned.
    - No provider job yet: cancelled locally, on condition that none has appeared meanwhile
      (a worker that creates one afterwards loses its own update and cancels that job).
    - Provider job: one process at a time takes the cancel lease and asks the provider, with
      no transaction open during the call; concurrent requests wait for its outcome. If the
      provider says the job already finished, that is recorded and the cancel refused.
    - Provider unreachable or failing: ``ProviderError``, and the job is left as it was.
    """
    _raise_if({"metadata": validation.metadata_problems(metadata)})
    # Waiting never outlasts the request's own deadline: the caller must get its answer
    # (503 at worst) before the web server's timeout kills the request.
    wait = settings.FINETUNING_CANCEL_WAIT_SECONDS
    remaining = ops_context.remaining_seconds()
    deadline = time.monotonic() + (wait if remaining is None else min(wait, remaining))
    pause = 0.02
    asked_the_database = asked_the_provider = False
    while True:
        job = _without_long_lists().filter(pk=finetuning.pk).first()
        if job is None:
            raise errors.DeletedMeanwhile("fine-tuning job")  # a finished job may be deleted
        if job.status == FinetuningStatus.CANCELLED:
            return _merge_cancel_metadata(job, actor=actor, metadata=metadata)
        if job.status in TERMINAL_STATUSES:
            raise errors.FinetuningNotCancellable(job.status)
        # A cancel whose request died after the provider accepted it (``cancel_request``
        # outlived its lease) is the one this retry completes, on behalf of whoever asked.
        pending = job.cancel_request if job.finetuning_job_id else None
        merged = _merged_metadata(
            _merged_metadata(job.metadata, (pending or {}).get("metadata")), metadata
        )
        # Everything that can refuse the cancel's write is asked before the provider is:
        # once the provider has stopped the job, the write must not fail on the data.
        _raise_if({"metadata": validation.metadata_problems(merged)})
        if metadata and not asked_the_database:
            # Once: a request waiting for another cancel must not write on every turn.
            _raise_if({"metadata": _metadata_problems_at_the_database(job, merged)})
            asked_the_database = True

        if not job.finetuning_job_id:
            if job.provider_create_started_at is not None and _attach_unrecorded_provider_job(
                job, actor=actor
            ):
                continue  # it has a provider job now: cancel that at the provider
            if _mark_cancelled(
                job, actor=actor, metadata=merged, only_if=Q(finetuning_job_id=None)
            ):
                return _without_long_lists().get(pk=job.pk)
            continue  # a provider job appeared, or the status moved: look again

        request = pending or {
            "actor": actor,
            "at": timezone.now().isoformat(),
            "metadata": metadata,
        }
        if _take_cancel_lease(job, request=request):
            outcome = _cancel_at_provider(job, request=request, pending=pending, metadata=merged)
            if outcome is not None:
                return outcome
            continue
        if pending and not asked_the_provider:
            # The lease may belong to a request that died after the provider accepted its
            # cancel (its database connection dropped): one look at the provider settles it
            # now instead of after the lease. A look, not a cancel: one process cancels.
            asked_the_provider = True
            if _settle_pending_cancel(job, request=pending):
                continue
        if time.monotonic() > deadline:
            raise errors.CancelInProgress(retry_after=_cancel_retry_after(job))
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _attach_unrecorded_provider_job(job: Finetuning, *, actor: str) -> bool:
    """Find a provider job created for ``job`` but never recorded, and record it.

    A create may have reached the provider without its answer reaching us (it answered
    500 or timed out after creating, or its worker was killed before recording it). Such a
    provider job trains, and bills, until it is stopped, so a cancel looks it up now by the
    job's id in its metadata rather than leaving it to the worker's clean-up after the
    lease. Provider errors propagate (503/502) with the job unchanged. Returns whether the
    job now has a provider job (this call's or a worker's).
    """
    remote = get_provider(job.model_provider).find_job_by_metadata(
        key=PROVIDER_METADATA_KEY, value=job.pk
    )
    if remote is None:
        return False
    with transaction.atomic():
        attached = Finetuning.objects.filter(
            pk=job.pk, status__in=ACTIVE_STATUSES, finetuning_job_id__isnull=True
        ).update(
            finetuning_job_id=remote.id,
            finetuning_file_id=remote.training_file or job.finetuning_file_id,
            provider_status=remote.status,
            provider_create_started_at=None,
            status_message=None,
            lease_owner=None,  # a worker still holding it loses its own attach, harmlessly
            lease_until=None,
            updated_at=timezone.now(),
        )
        if attached:
            FinetuningEvent.objects.create(
                finetuning_id=job.pk,
                kind=FinetuningEventKind.WORKER,
                actor=actor,
                message=FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE.format(job_id=remote.id),
                data={"provider_job_id": remote.id, "provider_status": remote.status},
            )
    return True


def _settle_pending_cancel(job: Finetuning, *, request: dict) -> bool:
    """Record ``request`` if the provider already reports the job cancelled."""
    try:
        remote = get_provider(job.model_provider).retrieve_job(job.finetuning_job_id)
    except ProviderError:
        return False  # the lease holder, or its expiry, decides
    if remote.mapped_status != FinetuningStatus.CANCELLED:
        return False
    _record_requested_cancel(job.pk, request=request, provider_status=remote.status)
    return True


def _merged_metadata(current, requested):
    return {**(current or {}), **requested} if requested else current


METADATA_NOT_STORABLE_MESSAGE = (
    "The database cannot store this metadata (it holds characters that cannot be stored)."
)


def _metadata_problems_at_the_database(job: Finetuning, metadata) -> list[str]:
    """Let the database itself say whether it accepts the metadata, then undo the write.

    The rules in ``validation`` describe what we know the databases refuse; this asks the
    one in use, so that nothing it refuses is found out only after the provider has acted.
    """
    try:
        with transaction.atomic():
            Finetuning.objects.filter(pk=job.pk).update(metadata=metadata)
            transaction.set_rollback(True)
    except DataError:
        return [METADATA_NOT_STORABLE_MESSAGE]
    return []


def _cancel_retry_after(job: Finetuning) -> int:
    """Seconds a client should wait before retrying a cancel that another process holds."""
    lease = (
        Finetuning.objects.filter(pk=job.pk).values_list("cancel_lease_until", flat=True).first()
    )
    left = (lease - timezone.now()).total_seconds() if lease else 1
    return max(1, min(math.ceil(left), _CANCEL_RETRY_AFTER_MAX_SECONDS))


# A holder that is alive finishes within seconds; one that died holds the lease until it
# expires, and polling a little more often than that costs the client nothing.
_CANCEL_RETRY_AFTER_MAX_SECONDS = 5


def _merge_cancel_metadata(job: Finetuning, *, actor: str, metadata) -> Finetuning:
    """A cancel of a cancelled job still merges its metadata, as any cancel does.

    A retried cancel carries what the first one merged, which changes nothing (no write, no
    event); new keys are kept, and recorded in the timeline, rather than silently dropped.
    """
    merged = {**(job.metadata or {}), **(metadata or {})}
    if not metadata or merged == job.metadata:
        return job
    return finetuning_update(finetuning=job, actor=actor, metadata=merged)


def _without_long_lists():
    # Cancel re-reads the job on every turn of its loop (a concurrent cancel can keep it
    # waiting for seconds) and needs none of its long lists to decide: those load only if
    # the caller reads them (a job may list 100,000 golden record ids).
    return Finetuning.objects.defer(
        "golden_records", "training_summary", "validation_golden_records", "validation_summary"
    )


def _mark_cancelled(job: Finetuning, *, actor: str, metadata, only_if: Q, **fields) -> bool:
    now = timezone.now()
    return finetuning_transition(
        finetuning_id=job.pk,
        to_status=FinetuningStatus.CANCELLED,
        actor=actor,
        message=errors.CANCELLED_BY_USER_MESSAGE,
        only_if=only_if,
        fields={
            "error": errors.CANCELLED_BY_USER_MESSAGE,
            "metadata": metadata,
            "cancelled_at": now,
            "cancelled_by": actor,
            **fields,
        },
    )


def _take_cancel_lease(job: Finetuning, *, request: dict) -> bool:
    now = timezone.now()
    return bool(
        Finetuning.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES)
        .filter(Q(cancel_lease_until__isnull=True) | Q(cancel_lease_until__lt=now))
        .update(
            cancel_lease_until=now + timedelta(seconds=settings.FINETUNING_CANCEL_LEASE_SECONDS),
            cancel_request=request,
        )
    )


_KEEP = object()


def _release_cancel_lease(job: Finetuning, *, cancel_request=_KEEP) -> None:
    """Let a retry cancel again; best effort, as the database may be what failed."""
    fields = {"cancel_lease_until": None}
    if cancel_request is not _KEEP:
        fields["cancel_request"] = cancel_request
    try:
        Finetuning.objects.filter(pk=job.pk).update(**fields)
    except DatabaseError:
        # The lease expires by itself; raising here would hide the error that matters.
        logger.warning("Could not release the cancel lease of %s", job.pk, exc_info=True)


def _record_requested_cancel(finetuning_id: str, *, request: dict, provider_status: str) -> bool:
    """Record a user's cancel that the provider accepted, from its ``cancel_request``."""
    current = Finetuning.objects.filter(pk=finetuning_id).values_list("metadata", flat=True).first()
    return finetuning_transition(
        finetuning_id=finetuning_id,
        to_status=FinetuningStatus.CANCELLED,
        actor=request["actor"],
        message=errors.CANCELLED_BY_USER_MESSAGE,
        fields={
            "error": errors.CANCELLED_BY_USER_MESSAGE,
            "metadata": _merged_metadata(current, request.get("metadata")),
            "cancelled_at": datetime.fromisoformat(request["at"]),
            "cancelled_by": request["actor"],
            "provider_status": provider_status,
        },
        event_data={"provider_status": provider_status},
    )


# A dropped connection or a database fail-over usually heals within a second or two; the
# request that holds the provider's "yes" keeps trying that long before it gives up.
_CANCEL_WRITE_PAUSES = (0.1, 0.3, 0.9)


def _record_cancel(job: Finetuning, *, request: dict, metadata, provider_status: str) -> bool:
    """Write the cancel the provider has accepted, retrying passing database failures.

    Should the database stay down, ``cancel_request`` (written with the lease) still holds
    the user's cancel: the next retry or worker refresh records it (see
    ``finetuning_apply_provider_job``).
    """
    for pause in (*_CANCEL_WRITE_PAUSES, None):
        try:
            return _mark_cancelled(
                job,
                actor=request["actor"],
                metadata=metadata,
                only_if=Q(finetuning_job_id=job.finetuning_job_id),
                provider_status=provider_status,
                cancelled_at=datetime.fromisoformat(request["at"]),
            )
        except (OperationalError, InterfaceError):
            if pause is None:
                raise
            if not db_connection.in_atomic_block:
                db_connection.close()  # a broken connection is not reused; the next one is new
            time.sleep(pause)
    return False


def _cancel_at_provider(
    job: Finetuning, *, request: dict, pending: dict | None, metadata
) -> Finetuning | None:
    """Cancel at the provider while holding the lease; None means "look at the job again"."""
    provider = get_provider(job.model_provider)
    try:
        try:
            remote = provider.cancel_job(job.finetuning_job_id)
        except ProviderRejected:
            # The provider refuses to cancel a job that has already ended; ask what it is.
            remote = provider.retrieve_job(job.finetuning_job_id)
            if remote.mapped_status not in TERMINAL_STATUSES:
                raise
    except ProviderError as exc:
        # A time-out or a 5xx may come after the provider stopped the job: then the user's
        # request stays (lease released), so a refresh that finds the job cancelled records
        # it as theirs. Otherwise nothing has changed, and the job is left as it was.
        _release_cancel_lease(job, cancel_request=request if exc.may_have_acted else pending)
        raise
    except BaseException:
        # So that a retry, here or elsewhere, can try again; nothing else has changed.
        _release_cancel_lease(job, cancel_request=pending)
        raise

    try:
        if remote.mapped_status in (FinetuningStatus.SUCCEEDED, FinetuningStatus.FAILED):
            finetuning_apply_provider_job(finetuning=job, remote=remote, actor="provider")
            raise errors.FinetuningNotCancellable(remote.mapped_status)
        # "cancelled", or still winding down ("cancelling" or any other active status): the
        # provider has accepted the cancel, so the job is cancelled for our users.
        if _record_cancel(job, request=request, metadata=metadata, provider_status=remote.status):
            return _without_long_lists().get(pk=job.pk)
        return None
    finally:
        # Whatever happened to the write, a retry must not wait for this lease to expire.
        _release_cancel_lease(job)


# --- API keys ----------------------------------------------------------------------------

API_KEY_PREFIX = "ftk_"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, name: str, created_by=None) -> tuple[APIKey, str]:
    """Create an API key; return it with the raw key, which is never stored or shown again."""
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = APIKey.objects.create(
        name=name, prefix=prefix, key_hash=hash_api_key(raw_key), created_by=created_by
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: APIKey) -> None:
    APIKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now())


def api_key_touch(*, api_key: APIKey) -> None:
    """Record that a key was used, at most once a minute per key (not a write per request)."""
    now = timezone.now()
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1))
    ).update(last_used_at=now)


# --- Fine-tuning jobs: the worker's writes ----------------------------------------------
#
# The worker claims a job with a lease, does its network calls with no transaction open,
# and writes each result back with a conditional update: a write whose condition no longer
# holds (the job was cancelled, another worker took over) changes nothing and says so.

WORKER_ACTOR = "worker"
SUBMITTING_MESSAGE = "A worker is submitting the job to the provider."
BUILDING_FILE_MESSAGE = "Building and checking the training file."
UPLOADING_FILE_MESSAGE = "Uploading the training file to the provider."
RETRY_MESSAGE = "{reason} The worker will try again at {when:%Y-%m-%d %H:%M:%S} UTC."
PROVIDER_PROBLEM_PREFIX = "The provider cannot show this job:"
PROVIDER_PROBLEM_MESSAGE = PROVIDER_PROBLEM_PREFIX + " {message} The worker keeps asking."
SUBMITTED_MESSAGE = "Submitted to the provider as {job_id} (training file {file_id})."
ORPHAN_CANCELLED_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, was cancelled "
    "at the provider."
)
# The job stays cancelled (a terminal status never moves, and its user was told so), but
# it says what happened and keeps the model the provider made (and billed).
LATE_PROVIDER_JOB_FINISHED_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, had already "
    "{status} before it could be stopped{detail}."
)
LATE_PROVIDER_JOB_STOPPING_MESSAGE = (
    "The provider job {job_id}, created while this job was being cancelled, was asked to "
    "stop; the provider reports {status}."
)


def _held_by(worker_id: str) -> Q:
    return Q(lease_owner=worker_id, status__in=ACTIVE_STATUSES)


def _claim(
    *,
    worker_id: str,
    where: str,
    where_params: list,
    order_by: str,
    limit: int,
    returning: str = "*",
    returning_params: list | tuple = (),
    extra_set: str = "",
    extra_set_params: list | tuple = (),
) -> list[Finetuning]:
    """Lease up to ``limit`` rows matching ``where`` to ``worker_id``, in one statement.

    ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: several
    workers claim side by side on PostgreSQL, each skipping the rows another is claiming,
    and the claim is atomic on its own (no transaction around it, and one statement even
    when nothing is due). Nothing is claimed for a provider that asked everyone to wait.
    """
    now = timezone.now()
    table = Finetuning._meta.db_table
    pauses = ProviderPause._meta.db_table
    adapt = db_connection.ops.adapt_datetimefield_value
    can_skip_locked = db_connection.features.has_select_for_update_skip_locked
    skip_locked = " FOR UPDATE SKIP LOCKED" if can_skip_locked else ""
    sql = f"""
        UPDATE {table} SET lease_owner = %s, lease_until = %s{extra_set}
        WHERE id IN (
            SELECT id FROM {table}
            WHERE {where}
              AND (lease_until IS NULL OR lease_until < %s)
              AND NOT EXISTS (
                  SELECT 1 FROM {pauses}
                  WHERE {pauses}.provider = {table}.model_provider AND paused_until > %s
              )
            ORDER BY {order_by}
            LIMIT %s{skip_locked}
        )
        RETURNING {returning}
    """
    params = [
        worker_id,
        adapt(now + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)),
        *extra_set_params,
        *where_params,
        adapt(now),
        adapt(now),
        limit,
        *returning_params,
    ]
    return list(Finetuning.objects.raw(sql, params))


def _in(values) -> tuple[str, list]:
    values = sorted(values)
    return ", ".join(["%s"] * len(values)), values


def finetuning_claim_for_submission(
    *, worker_id: str, limit: int, model_provider: str | None = None
) -> list[Finetuning]:
    """Lease up to ``limit`` jobs that wait for submission, oldest first (see ``_claim``).

    Expired leases count as free, so a job whose worker died is taken over here. With
    ``model_provider``, only that provider's jobs: each provider submits its own.
    """
    now = timezone.now()
    statuses, status_params = _in(SUBMITTABLE_STATUSES)
    where = f"""status IN ({statuses}) AND finetuning_job_id IS NULL
              AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"""
    where_params = [*status_params, db_connection.ops.adapt_datetimefield_value(now)]
    if model_provider is not None:
        where += " AND model_provider = %s"
        where_params.append(model_provider)
    jobs = _claim(
        worker_id=worker_id,
        where=where,
        where_params=where_params,
        order_by="created_at ASC, id ASC",
        limit=limit,
        extra_set=", status_message = %s, attempts = attempts + 1",
        extra_set_params=[SUBMITTING_MESSAGE],
    )
    jobs.sort(key=lambda job: (job.created_at, job.pk))
    return jobs


def finetuning_start_validating(*, finetuning: Finetuning, worker_id: str) -> bool:
    """queued -> validating_files for a job this worker holds (already there: nothing to do)."""
    if finetuning.status == FinetuningStatus.VALIDATING_FILES:
        return True
    return finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=FinetuningStatus.VALIDATING_FILES,
        actor=WORKER_ACTOR,
        message=BUILDING_FILE_MESSAGE,
        fields={"status_message": BUILDING_FILE_MESSAGE},
        only_if=Q(lease_owner=worker_id, finetuning_job_id__isnull=True),
    )


def finetuning_store_training_file(
    *, finetuning: Finetuning, worker_id: str, file, summary: dict
) -> bool:
    """Keep the exact training file and its summary on the job; return whether it was kept."""
    name = default_storage.save(f"training-files/{finetuning.pk}.jsonl", File(file))
    kept = Finetuning.objects.filter(
        _held_by(worker_id), pk=finetuning.pk, training_file__in=("", None)
    ).update(
        training_file=name,
        training_file_sha256=summary["sha256"],
        training_file_size=summary["bytes"],
        training_summary=summary,
        status_message=UPLOADING_FILE_MESSAGE,
        updated_at=timezone.now(),
    )
    if not kept:
        default_storage.delete(name)  # the job moved on (cancelled, taken over): not ours
        return False
    FinetuningEvent.objects.create(
        finetuning_id=finetuning.pk,
        kind=FinetuningEventKind.WORKER,
        actor=WORKER_ACTOR,
        message=(
            f"Training file built: {summary['examples']} examples, {summary['tokens']} tokens "
            f"({summary['token_counting']}), about {summary['estimated_billed_tokens']} billed "
            "tokens."
        ),
        data=summary,
    )
    return True


def finetuning_record_uploaded_file(
    *, finetuning: Finetuning, worker_id: str, file_id: str
) -> bool:
    return bool(
        Finetuning.objects.filter(_held_by(worker_id), pk=finetuning.pk).update(
            finetuning_file_id=file_id, updated_at=timezone.now()
        )
    )


def finetuning_mark_create_started(*, finetuning: Finetuning, worker_id: str) -> bool:
    """Note that a provider job may exist from now on; False if the lease was lost."""
    now = timezone.now()
    return bool(
        Finetuning.objects.filter(
            _held_by(worker_id), pk=finetuning.pk, finetuning_job_id__isnull=True
        ).update(
            provider_create_started_at=now,
            lease_until=now + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS),
        )
    )


def finetuning_attach_provider_job(*, finetuning: Finetuning, remote) -> bool:
    """Record the provider job that now runs this job, if the job is still active.

    Loses (returns False) when the job was cancelled meanwhile or another worker attached
    a provider job first: the caller must then make sure its own provider job stops.
    """
    now = timezone.now()
    with transaction.atomic():
        attached = Finetuning.objects.filter(
            pk=finetuning.pk, status__in=ACTIVE_STATUSES, finetuning_job_id__isnull=True
        ).update(
            finetuning_job_id=remote.id,
            finetuning_file_id=remote.training_file or finetuning.finetuning_file_id,
            provider_status=remote.status,
            status_message=None,
            lease_owner=None,
            lease_until=None,
            attempts=0,
            next_attempt_at=None,
            last_polled_at=now,
            updated_at=now,
        )
        if attached:
            FinetuningEvent.objects.create(
                finetuning_id=finetuning.pk,
                kind=FinetuningEventKind.WORKER,
                actor=WORKER_ACTOR,
                message=SUBMITTED_MESSAGE.format(
                    job_id=remote.id, file_id=remote.training_file or "?"
                ),
                data={"provider_job_id": remote.id, "provider_status": remote.status},
            )
    if attached:
        finetuning.refresh_from_db()
        finetuning_apply_provider_job(finetuning=finetuning, remote=remote, actor="provider")
    return bool(attached)


def finetuning_record_late_provider_job(*, finetuning: Finetuning, remote, stopped: bool) -> None:
    """Show on a cancelled job the provider job created for it after the cancel.

    Recorded before the provider is asked to stop it (``stopped=False``), so that if that
    call fails, the next pass sees a cancelled job with a live provider job and tries again.
    """
    Finetuning.objects.filter(pk=finetuning.pk, finetuning_job_id__isnull=True).update(
        finetuning_job_id=remote.id,
        finetuning_file_id=remote.training_file or finetuning.finetuning_file_id,
    )
    fields = {"provider_status": remote.status, "provider_create_started_at": None}
    if stopped and remote.mapped_status == FinetuningStatus.SUCCEEDED:
        fields["model_id"] = remote.fine_tuned_model
    Finetuning.objects.filter(pk=finetuning.pk, finetuning_job_id=remote.id).update(**fields)
    if stopped:
        FinetuningEvent.objects.create(
            finetuning_id=finetuning.pk,
            kind=FinetuningEventKind.WORKER,
            actor=WORKER_ACTOR,
            message=_late_provider_job_message(remote),
            data={"provider_job_id": remote.id, "provider_status": remote.status},
        )


def _late_provider_job_message(remote) -> str:
    """What became of a late provider job we asked to stop, as the provider reports it."""
    if remote.mapped_status == FinetuningStatus.CANCELLED:
        return ORPHAN_CANCELLED_MESSAGE.format(job_id=remote.id)
    if remote.mapped_status == FinetuningStatus.SUCCEEDED:
        detail = f" (model {remote.fine_tuned_model})" if remote.fine_tuned_model else ""
    elif remote.mapped_status == FinetuningStatus.FAILED:
        detail = f" ({remote.error_message})" if remote.error_message else ""
    else:
        return LATE_PROVIDER_JOB_STOPPING_MESSAGE.format(job_id=remote.id, status=remote.status)
    return LATE_PROVIDER_JOB_FINISHED_MESSAGE.format(
        job_id=remote.id, status=remote.status, detail=detail
    )


def finetuning_clear_create_started(*, finetuning: Finetuning) -> None:
    Finetuning.objects.filter(pk=finetuning.pk).update(provider_create_started_at=None)


def finetuning_back_off(*, finetuning: Finetuning, worker_id: str, reason: str) -> str | None:
    """Give the job back after a passing failure, to be tried again later; return the message.

    The wait doubles with each attempt (up to a maximum); the reason and the time of the
    next attempt are on the job for users to read.
    """
    now = timezone.now()
    attempts = Finetuning.objects.filter(pk=finetuning.pk).values_list("attempts", flat=True)
    exponent = max((attempts.first() or 1) - 1, 0)
    delay = min(
        settings.FINETUNING_WORKER_BACKOFF_SECONDS * (2 ** min(exponent, 20)),
        settings.FINETUNING_WORKER_BACKOFF_MAX_SECONDS,
    )
    next_attempt_at = now + timedelta(seconds=delay)
    message = RETRY_MESSAGE.format(reason=reason, when=next_attempt_at)
    with transaction.atomic():
        updated = Finetuning.objects.filter(_held_by(worker_id), pk=finetuning.pk).update(
            status_message=message,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
        if updated:
            FinetuningEvent.objects.create(
                finetuning_id=finetuning.pk,
                kind=FinetuningEventKind.ERROR,
                actor=WORKER_ACTOR,
                message=message,
            )
    return message if updated else None


def finetuning_fail(*, finetuning: Finetuning, worker_id: str, reason: str) -> bool:
    """A permanent failure (the provider refused, the data cannot be trained on).

    Only while this worker still holds the job and no provider job is attached: a worker
    whose lease ran out must not fail a job that another worker has since submitted.
    """
    return finetuning_transition(
        finetuning_id=finetuning.pk,
        to_status=FinetuningStatus.FAILED,
        actor=WORKER_ACTOR,
        message=reason,
        fields={"error": reason},
        only_if=_held_by(worker_id) & Q(finetuning_job_id__isnull=True),
    )


def finetuning_set_waiting_reason(*, reason: str, model_provider: str | None = None) -> int:
    """Tell every job waiting for submission (to that provider) why it waits (no key, ...)."""
    waiting = Finetuning.objects.filter(
        status__in=SUBMITTABLE_STATUSES, finetuning_job_id__isnull=True
    )
    if model_provider is not None:
        waiting = waiting.filter(model_provider=model_provider)
    return waiting.exclude(status_message=reason).update(
        status_message=reason, updated_at=timezone.now()
    )


# Columns the refresh needs of a claimed job, returned by the claim itself.
_REFRESH_COLUMNS = (
    "id",
    "status",
    "provider_status",
    "status_message",
    "finetuning_job_id",
    "model_provider",
    "created_at",
    "last_polled_at",
    "cancel_lease_until",
    "provider_events_cursor",
    "trained_tokens",
    "estimated_finish",
    "provider_hyperparameters",
)


def finetuning_claim_for_refresh(*, worker_id: str, provider: str, limit: int) -> list[Finetuning]:
    """Lease up to ``limit`` active jobs due for a poll, oldest poll first (see ``_claim``).

    Due: never polled, polled more than FINETUNING_WORKER_POLL_SECONDS ago, or marked due by
    a webhook (``last_polled_at`` NULL). Among jobs polled at the same moment the newest
    comes first, the order of the provider's own job list, so one list page covers a
    batch. Each job comes back with ``list_anchor``: the provider job id of our next newer
    job, where the provider's list (newest first) starts just above this one.
    """
    now = timezone.now()
    table = Finetuning._meta.db_table
    statuses, status_params = _in(ACTIVE_STATUSES)
    poll_before = now - timedelta(seconds=settings.FINETUNING_WORKER_POLL_SECONDS)
    jobs = _claim(
        worker_id=worker_id,
        where=f"""status IN ({statuses}) AND finetuning_job_id IS NOT NULL
              AND model_provider = %s
              AND (last_polled_at IS NULL OR last_polled_at <= %s)""",
        where_params=[
            *status_params,
            provider,
            db_connection.ops.adapt_datetimefield_value(poll_before),
        ],
        order_by="last_polled_at ASC NULLS FIRST, created_at DESC",
        limit=limit,
        returning=f"""{", ".join(_REFRESH_COLUMNS)}, (
            SELECT newer.finetuning_job_id FROM {table} newer
            WHERE newer.created_at > {table}.created_at
              AND newer.finetuning_job_id IS NOT NULL AND newer.model_provider = %s
            ORDER BY newer.created_at ASC LIMIT 1
        ) AS list_anchor""",
        returning_params=[provider],
    )
    jobs.sort(key=lambda job: (job.created_at, job.pk), reverse=True)
    return jobs


def finetuning_record_polled(*, finetuning_ids: list[str], worker_id: str | None = None) -> None:
    """Record a batch's poll and give its leases back: one statement for the whole batch."""
    if not finetuning_ids:
        return
    rows = Finetuning.objects.filter(pk__in=finetuning_ids)
    if worker_id is None:
        rows.update(last_polled_at=timezone.now())
        return
    rows.filter(lease_owner=worker_id).update(
        last_polled_at=timezone.now(), lease_owner=None, lease_until=None
    )


def finetuning_release(*, finetuning_ids: list[str], worker_id: str) -> None:
    """Give back jobs this worker claimed but did not get to (stopping, provider paused)."""
    if finetuning_ids:
        Finetuning.objects.filter(pk__in=finetuning_ids, lease_owner=worker_id).update(
            lease_owner=None, lease_until=None
        )


def finetuning_mark_due(*, finetuning: Finetuning, event_id: str, event_type: str) -> bool:
    """A verified webhook: remember it and make the job due now; False if already seen.

    The next worker pass refreshes the job (the request never waits on the provider).
    """
    try:
        with transaction.atomic():
            FinetuningEvent.objects.create(
                finetuning=finetuning,
                kind=FinetuningEventKind.PROVIDER_EVENT,
                actor="provider webhook",
                message=f"Webhook {event_type} received.",
                data={"type": event_type},
                provider_event_id=event_id,
            )
            Finetuning.objects.filter(pk=finetuning.pk, status__in=ACTIVE_STATUSES).update(
                last_polled_at=None
            )
    except IntegrityError:
        return False
    return True


def provider_pause(*, provider: str, seconds: float, reason: str) -> None:
    """Make every worker leave ``provider`` alone for ``seconds`` (it answered 429)."""
    until = timezone.now() + timedelta(seconds=seconds)
    ProviderPause.objects.bulk_create(
        [ProviderPause(provider=provider, paused_until=until, reason=reason)],
        update_conflicts=True,
        unique_fields=["provider"],
        update_fields=["paused_until", "reason"],
    )


PROVIDER_JOB_GONE_STATUS = "not_found"


def finetuning_record_provider_job_gone(*, finetuning: Finetuning, message: str) -> None:
    """The provider no longer knows a finished job's provider job: nothing runs there."""
    with transaction.atomic():
        if Finetuning.objects.filter(pk=finetuning.pk, status__in=TERMINAL_STATUSES).update(
            provider_status=PROVIDER_JOB_GONE_STATUS
        ):
            FinetuningEvent.objects.create(
                finetuning_id=finetuning.pk,
                kind=FinetuningEventKind.WORKER,
                actor=WORKER_ACTOR,
                message=f"The provider no longer has job {finetuning.finetuning_job_id}: {message}",
            )


def finetuning_record_provider_problem(
    *, finetuning: Finetuning, message: str, worker_id: str | None = None, polled: bool = True
) -> None:
    """The provider cannot tell us about this job: say so on the job, and poll it later.

    ``polled=False`` (a passing error) leaves the job due, so the next pass asks again.
    """
    now = timezone.now()
    fields = {
        "status_message": PROVIDER_PROBLEM_MESSAGE.format(message=message),
        "updated_at": now,
    }
    if polled:
        fields["last_polled_at"] = now
    if worker_id is not None:
        fields.update(lease_owner=None, lease_until=None)
    Finetuning.objects.filter(pk=finetuning.pk, status__in=ACTIVE_STATUSES).update(**fields)


def finetuning_record_provider_events_of_batch(*, items: list) -> int:
    """Store the new provider events of a refresh batch and where each job's read stands.

    ``items`` are ``(finetuning, [(event, sequence), ...], cursor or None)``. One
    transaction for the batch (an INSERT, and one UPDATE of the cursors), not one per job.
    """
    if not items:
        return 0
    new = [
        _provider_event_row(finetuning, event, sequence)
        for finetuning, events, _cursor in items
        for event, sequence in events
    ]
    moved = []
    for finetuning, _events, cursor in items:
        if cursor is not None:
            finetuning.provider_events_cursor = cursor
            moved.append(finetuning)
    # A step already stored keeps its row: the same event read again changes nothing.
    metrics = finetuning_metric_rows_from_events(items)
    with transaction.atomic():
        FinetuningEvent.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
        if metrics:
            FinetuningMetric.objects.bulk_create(metrics, ignore_conflicts=True, batch_size=1000)
        if moved:
            Finetuning.objects.bulk_update(moved, ["provider_events_cursor"], batch_size=500)
    return len(new)


def _provider_event_row(finetuning: Finetuning, event, sequence) -> FinetuningEvent:
    return FinetuningEvent(
        finetuning_id=finetuning.pk,
        kind=FinetuningEventKind.PROVIDER_EVENT,
        actor="provider",
        message=event.message,
        created_at=event.created_at or timezone.now(),
        data={
            "level": event.level,
            "provider_created_at": event.created_at.isoformat() if event.created_at else None,
            **({"data": event.data} if event.data else {}),
        },
        provider_event_id=event.id,
        provider_sequence=sequence,
    )


def finetuning_webhook_seen(*, finetuning: Finetuning, event_id: str) -> bool:
    return FinetuningEvent.objects.filter(
        finetuning=finetuning, provider_event_id=event_id
    ).exists()


# --- Worker heartbeats -------------------------------------------------------------------


def worker_heartbeat_record(*, worker_id: str) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": now},
        create_defaults={"seen_at": now, "started_at": now},
    )


def worker_heartbeat_remove(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
