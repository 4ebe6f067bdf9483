"""Fine-tuning jobs: creation, the edits their owners may make, and deletion."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from finetunings import errors, validation
from finetunings.models import DatabaseConnection, Finetuning, GoldenRecord, new_id
from finetunings.services import events
from finetunings.services.base import raise_if, refuse_unknown_fields
from finetunings.services.connections import lock_alive_connections, no_connection

# The user-owned fields of a job: everything else changes through the status machine.
FINETUNING_EDITABLE_FIELDS = frozenset({"alias", "metadata"})


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
) -> dict[str, list[str]]:
    """What ``finetuning_create`` would refuse, by field; empty when it would start the job.

    For forms (the admin's "add" page) that show the problems next to their fields.
    """
    problems, _plan = _finetuning_create_plan(
        db_connection_id=db_connection_id,
        base_llm=base_llm,
        golden_records=golden_records,
        metadata=metadata,
    )
    return {field: messages for field, messages in problems.items() if messages}


def _finetuning_create_plan(*, db_connection_id, base_llm, golden_records, metadata):
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
    connection = DatabaseConnection.objects.alive().filter(pk=db_connection_id).first()
    if connection is None:
        problems["db_connection_id"] = no_connection(db_connection_id)
    else:
        record_ids, record_problems = _golden_record_ids(connection, golden_records)
        problems["golden_records"] = record_problems
    return problems, (connection, model_provider, model_name, model_parameters, record_ids)


def finetuning_create(
    *,
    db_connection_id: str,
    actor: str,
    alias: str | None = None,
    base_llm: dict | None = None,
    golden_records: list[str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Finetuning:
    problems, plan = _finetuning_create_plan(
        db_connection_id=db_connection_id,
        base_llm=base_llm,
        golden_records=golden_records,
        metadata=metadata,
    )
    raise_if(problems)
    connection, model_provider, model_name, model_parameters, record_ids = plan

    finetuning_id = new_id()
    with transaction.atomic():
        if not lock_alive_connections([connection.pk]):
            raise errors.ValidationFailed({"db_connection_id": no_connection(db_connection_id)})
        finetuning = Finetuning.objects.create(
            id=finetuning_id,
            db_connection=connection,
            alias=alias or _default_alias(connection, finetuning_id),
            model_provider=model_provider,
            model_name=model_name,
            model_parameters=model_parameters,
            golden_records=record_ids,
            metadata=metadata,
        )
        events.record_created(
            finetuning=finetuning, actor=actor, golden_record_count=len(record_ids)
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
    refuse_unknown_fields(changes, FINETUNING_EDITABLE_FIELDS, what="fine-tuning job")
    if "metadata" in changes:
        raise_if({"metadata": validation.metadata_problems(changes["metadata"])})
    if not changes:
        return finetuning
    with transaction.atomic():
        if not Finetuning.objects.filter(pk=finetuning.pk).update(
            **changes, updated_at=timezone.now()
        ):
            raise errors.DeletedMeanwhile("fine-tuning job")  # else its event would be orphaned
        events.record_metadata_updated(finetuning_id=finetuning.pk, actor=actor, changes=changes)
    finetuning.refresh_from_db()
    return finetuning


def finetuning_delete(*, finetuning: Finetuning) -> None:
    """Delete a finished job, its timeline, and (once that is committed) its kept file."""
    kept_file = (
        Finetuning.objects.filter(pk=finetuning.pk).values_list("training_file", flat=True).first()
    )
    with transaction.atomic():
        deleted, _ = Finetuning.objects.finished().filter(pk=finetuning.pk).delete()
        if deleted and kept_file:
            # Only after the commit: a rolled-back delete must still find its file.
            transaction.on_commit(lambda: default_storage.delete(kept_file))
    if not deleted:
        raise errors.FinetuningActive()
