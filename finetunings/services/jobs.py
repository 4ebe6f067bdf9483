"""Fine-tuning jobs: creation, the edits their owners may make, and deletion."""

from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from finetunings import errors, validation, validation_split
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
    validation_golden_records: list[str] | None = None,
    validation_fraction: float | None = None,
    validation_seed: int | None = None,
) -> dict[str, list[str]]:
    """What ``finetuning_create`` would refuse, by field; empty when it would start the job.

    For forms (the admin's "add" page) that show the problems next to their fields.
    """
    split = _SplitRequest(validation_golden_records, validation_fraction, validation_seed)
    plan = _finetuning_create_plan(db_connection_id, base_llm, golden_records, metadata, split)
    return {name: messages for name, messages in plan.problems.items() if messages}


class _SplitRequest(NamedTuple):
    """The create request's validation split fields, as the client gave them."""

    held_out: list[str] | None
    fraction: float | None
    seed: int | None


@dataclass
class _CreatePlan:
    """What a create request comes to: its problems by field, and the job it would store."""

    problems: dict[str, list[str]]
    connection: DatabaseConnection | None
    model_provider: str
    model_name: str
    model_parameters: dict
    record_ids: list[str] = field(default_factory=list)
    split_fields: dict = field(default_factory=dict)


def _finetuning_create_plan(
    db_connection_id, base_llm, golden_records, metadata, split_request: _SplitRequest
) -> _CreatePlan:
    base_llm = base_llm or {}
    plan = _CreatePlan(
        problems={"metadata": validation.metadata_problems(metadata)},
        connection=DatabaseConnection.objects.alive().filter(pk=db_connection_id).first(),
        model_provider=base_llm.get("model_provider") or settings.FINETUNING_DEFAULT_PROVIDER,
        model_name=base_llm.get("model_name") or settings.FINETUNING_DEFAULT_MODEL,
        model_parameters=base_llm.get("model_parameters") or {},
    )
    problems = plan.problems
    for name, messages in validation.base_llm_problems(
        plan.model_provider, plan.model_name
    ).items():
        problems[f"base_llm.{name}"] = messages
    for name, messages in validation.model_parameters_problems(plan.model_parameters).items():
        problems[f"base_llm.model_parameters.{name}".rstrip(".")] = messages
    if plan.connection is None:
        problems["db_connection_id"] = no_connection(db_connection_id)
        return plan
    plan.record_ids, problems["golden_records"] = _golden_record_ids(
        plan.connection, golden_records
    )
    if not problems["golden_records"]:
        # Held-out records leave the training part (validation_split.py).
        split = _validation_split(
            plan.connection,
            plan.record_ids,
            all_of_connection=golden_records is None,
            request=split_request,
        )
        problems.update(split.problems)
        plan.record_ids, plan.split_fields = split.training_ids, split.fields
    return plan


def finetuning_create(
    *,
    db_connection_id: str,
    actor: str,
    alias: str | None = None,
    base_llm: dict | None = None,
    golden_records: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    validation_golden_records: list[str] | None = None,
    validation_fraction: float | None = None,
    validation_seed: int | None = None,
) -> Finetuning:
    """A queued job; the ``validation_*`` fields ask for a split (see ``validation_split``)."""
    split = _SplitRequest(validation_golden_records, validation_fraction, validation_seed)
    plan = _finetuning_create_plan(db_connection_id, base_llm, golden_records, metadata, split)
    raise_if(plan.problems)
    connection = plan.connection
    finetuning_id = new_id()
    with transaction.atomic():
        if not lock_alive_connections([connection.pk]):
            raise errors.ValidationFailed({"db_connection_id": no_connection(db_connection_id)})
        finetuning = Finetuning.objects.create(
            id=finetuning_id,
            db_connection=connection,
            alias=alias or _default_alias(connection, finetuning_id),
            model_provider=plan.model_provider,
            model_name=plan.model_name,
            model_parameters=plan.model_parameters,
            golden_records=plan.record_ids,
            metadata=metadata,
            **plan.split_fields,
        )
        events.record_created(finetuning=finetuning, actor=actor)
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
    problems = _listed_id_problems(connection, requested, too_many_hint=_ALL_OF_THEM_HINT)
    unique = len(set(requested))
    if unique < validation.GOLDEN_RECORDS_MINIMUM:
        problems.append(
            f"At least {validation.GOLDEN_RECORDS_MINIMUM} golden records are required; "
            f"got {unique}."
        )
    return list(requested), problems


_ALL_OF_THEM_HINT = " (omit golden_records to train on all of the connection's)"


def _listed_id_problems(
    connection: DatabaseConnection, ids: list[str], *, too_many_hint: str = ""
) -> list[str]:
    """Too many, repeated, unknown and other-connection ids in a list the client gave.

    The same checks, in the same words, for ``golden_records`` and the held-out
    ``validation_golden_records``.
    """
    maximum = validation.GOLDEN_RECORDS_MAXIMUM
    if len(ids) > maximum:
        return [
            f"At most {maximum} golden record ids may be listed; got {len(ids)}{too_many_hint}."
        ]
    problems = []
    duplicates = validation.repeated(ids)
    if duplicates:
        problems.append(f"Golden record ids are repeated: {validation.name_ids(duplicates)}.")
    unique = list(dict.fromkeys(ids))
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
    return problems


def _validation_split(
    connection: DatabaseConnection,
    record_ids: list[str],
    *,
    all_of_connection: bool,
    request: _SplitRequest,
) -> validation_split.Split:
    """The split asked for, of the (checked) ids the job would otherwise train on."""
    held_out = request.held_out or None  # [] asks for no split, as null does
    problems = validation_split.request_problems(
        held_out=held_out, fraction=request.fraction, seed=request.seed
    )
    if problems:
        return validation_split.Split(problems, record_ids, {})
    if request.fraction is not None:
        return validation_split.draw(
            record_ids, fraction=float(request.fraction), seed=request.seed
        )
    if held_out is None:
        return validation_split.Split({}, record_ids, {})
    id_problems = _listed_id_problems(connection, held_out)
    if id_problems:
        return validation_split.Split({"validation_golden_records": id_problems}, record_ids, {})
    return validation_split.hold_out(record_ids, held_out, all_of_connection=all_of_connection)


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
    """Delete a finished job, its timeline, and (once that is committed) its kept files."""
    kept_files = (
        Finetuning.objects.filter(pk=finetuning.pk)
        .values_list("training_file", "validation_file")
        .first()
    ) or ()
    with transaction.atomic():
        deleted, _ = Finetuning.objects.finished().filter(pk=finetuning.pk).delete()
        for name in kept_files if deleted else ():
            if name:
                # Only after the commit: a rolled-back delete must still find its file.
                transaction.on_commit(lambda name=name: default_storage.delete(name))
    if not deleted:
        raise errors.FinetuningActive()
