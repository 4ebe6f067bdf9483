"""A job's validation split: which golden records are held out, and the file built from them.

A client asks for a split on create in one of two ways:

- ``validation_golden_records``: ids of the connection's records to hold out. They may not
  also be listed in ``golden_records``; when ``golden_records`` is left out (train on all of
  the connection's records), the held-out ones are taken out of the training part.
- ``validation_fraction`` (0 to 0.5, optionally with ``validation_seed``): a random share of
  the job's training records is held out. The split is drawn at create time and stored on
  the job, so the API shows it at once and the worker never draws it again.

The draw is repeatable from what the job records, in any language: rank every id of the
job (``golden_records`` and ``validation_golden_records`` together, in any order) by the
SHA-256 of ``"<validation_seed>:<id>"`` (hex digest, ascending); the first
``held_out_count(total, fraction)`` ids are the validation part. Each part keeps the order
in which the client listed the ids. ``split`` below is that procedure.

OpenAI documents no minimum for a validation file (the ten-example minimum is the training
file's), so the held-out part needs one record at least, and the training part keeps the
usual ten.
"""

import hashlib
import math
import secrets

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from finetunings import validation
from finetunings.models import (
    ACTIVE_STATUSES,
    DatabaseConnection,
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    GoldenRecord,
)

FRACTION_MAX = 0.5
# A seed fits every client's integer type (JavaScript's safe integers included).
SEED_MAX = 2**31 - 1
# Ids per IN (...) query: under SQLite's bound-parameter limit.
_IN_QUERY_CHUNK = 900

BOTH_GIVEN_MESSAGE = (
    "Give validation_golden_records or validation_fraction, not both: the first names the "
    "held-out records, the second draws them at random."
)
SEED_WITHOUT_FRACTION_MESSAGE = (
    "validation_seed only applies with validation_fraction (it repeats a random split)."
)
FRACTION_RANGE_MESSAGE = f"Must be a number from 0 to {FRACTION_MAX}."
SEED_RANGE_MESSAGE = f"Must be an integer from 0 to {SEED_MAX}."
ALSO_TRAINING_MESSAGE = (
    "These golden records are also in golden_records; a record is either trained on or "
    "held out, not both: {ids}."
)
NONE_HELD_OUT_MESSAGE = (
    "A validation_fraction of {fraction:g} of {total} golden records holds out none; raise "
    "it or list validation_golden_records."
)
TOO_FEW_LEFT_MESSAGE = (
    "A validation_fraction of {fraction:g} of {total} golden records leaves {left} to train "
    "on; at least {minimum} are required."
)
TOO_FEW_TRAINING_MESSAGE = (
    "At least {minimum} golden records are required for training; {left} remain once the "
    "{held_out} validation golden records are held out."
)
TOO_MANY_MESSAGE = "At most {maximum} golden record ids may be listed; got {count}."

CODE_VALIDATION_FILE_NOT_READY = "validation_file_not_ready"
VALIDATION_FILE_NOT_READY_MESSAGE = (
    "The validation file is built by the worker when it submits the job; it is not ready yet."
)
CODE_NO_VALIDATION_FILE = "no_validation_file"
NO_VALIDATION_FILE_MESSAGE = (
    "This job has no validation split (it was created without validation_golden_records or "
    "validation_fraction), so it has no validation file."
)
WORKER_ACTOR = "worker"


# --- The split ---------------------------------------------------------------------------


def held_out_count(total: int, fraction: float) -> int:
    """How many of ``total`` records a fraction holds out: the share, rounded half up."""
    return math.floor(total * fraction + 0.5)


def _rank(seed: int, record_id: str) -> str:
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def split(ids: list[str], *, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training ids, validation ids) of ``ids``; the same for the same ids in any order."""
    count = held_out_count(len(ids), fraction)
    held_out = set(sorted(ids, key=lambda record_id: _rank(seed, record_id))[:count])
    return (
        [record_id for record_id in ids if record_id not in held_out],
        [record_id for record_id in ids if record_id in held_out],
    )


def new_seed() -> int:
    return secrets.randbelow(SEED_MAX + 1)


# --- Checking a create request -----------------------------------------------------------


def _record_id_problems(connection: DatabaseConnection, ids: list[str]) -> list[str]:
    """Repeated, unknown and other-connection ids, in the words used for golden_records."""
    if len(ids) > validation.GOLDEN_RECORDS_MAXIMUM:
        return [TOO_MANY_MESSAGE.format(maximum=validation.GOLDEN_RECORDS_MAXIMUM, count=len(ids))]
    problems = []
    repeated = validation.repeated(ids)
    if repeated:
        problems.append(f"Golden record ids are repeated: {validation.name_ids(repeated)}.")
    unique = list(dict.fromkeys(ids))
    owner_of: dict[str, str] = {}
    for start in range(0, len(unique), _IN_QUERY_CHUNK):
        chunk = unique[start : start + _IN_QUERY_CHUNK]
        owner_of.update(
            GoldenRecord.objects.filter(pk__in=chunk).values_list("id", "db_connection_id")
        )
    unknown = [i for i in unique if i not in owner_of]
    if unknown:
        problems.append(f"Unknown golden record ids: {validation.name_ids(unknown)}.")
    elsewhere = [i for i in unique if owner_of.get(i, connection.pk) != connection.pk]
    if elsewhere:
        problems.append(
            "These golden records belong to another database connection: "
            f"{validation.name_ids(elsewhere)}."
        )
    return problems


def _fraction_problems(fraction, seed) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    is_number = isinstance(fraction, int | float) and not isinstance(fraction, bool)
    if not (is_number and math.isfinite(fraction) and 0 <= fraction <= FRACTION_MAX):
        problems["validation_fraction"] = [FRACTION_RANGE_MESSAGE]
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX
    ):
        problems["validation_seed"] = [SEED_RANGE_MESSAGE]
    return problems


def _split_by_fraction(training_ids: list[str], fraction: float, seed: int | None):
    seed = new_seed() if seed is None else seed
    training, held_out = split(training_ids, fraction=fraction, seed=seed)
    total, minimum = len(training_ids), validation.GOLDEN_RECORDS_MINIMUM
    if not held_out:
        message = NONE_HELD_OUT_MESSAGE.format(fraction=fraction, total=total)
        return {"validation_fraction": [message]}, training_ids, {}
    if len(training) < minimum:
        message = TOO_FEW_LEFT_MESSAGE.format(
            fraction=fraction, total=total, left=len(training), minimum=minimum
        )
        return {"validation_fraction": [message]}, training_ids, {}
    fields = {
        "validation_golden_records": held_out,
        "validation_fraction": fraction,
        "validation_seed": seed,
    }
    return {}, training, fields


def _split_by_ids(connection, training_ids, held_out, *, all_of_connection: bool):
    problems = _record_id_problems(connection, held_out)
    if problems:
        return {"validation_golden_records": problems}, training_ids, {}
    held = set(held_out)
    if all_of_connection:
        training_ids = [record_id for record_id in training_ids if record_id not in held]
        if len(training_ids) < validation.GOLDEN_RECORDS_MINIMUM:
            message = TOO_FEW_TRAINING_MESSAGE.format(
                minimum=validation.GOLDEN_RECORDS_MINIMUM,
                left=len(training_ids),
                held_out=len(held_out),
            )
            return {"golden_records": [message]}, training_ids, {}
    else:
        both = [record_id for record_id in dict.fromkeys(held_out) if record_id in training_ids]
        if both:
            message = ALSO_TRAINING_MESSAGE.format(ids=validation.name_ids(both))
            return {"validation_golden_records": [message]}, training_ids, {}
    return {}, training_ids, {"validation_golden_records": list(held_out)}


def plan(
    *,
    connection: DatabaseConnection,
    training_ids: list[str],
    all_of_connection: bool,
    validation_golden_records: list[str] | None = None,
    validation_fraction: float | None = None,
    validation_seed: int | None = None,
) -> tuple[dict[str, list[str]], list[str], dict]:
    """(problems by field, the ids to train on, the job's validation fields).

    ``training_ids`` are the checked ids the job would train on without a split;
    ``all_of_connection`` says they are the connection's records, not the client's list.
    """
    held_out = validation_golden_records or None  # [] asks for no split, as null does
    if held_out is not None and validation_fraction is not None:
        return {"validation_fraction": [BOTH_GIVEN_MESSAGE]}, training_ids, {}
    if validation_seed is not None and validation_fraction is None:
        return {"validation_seed": [SEED_WITHOUT_FRACTION_MESSAGE]}, training_ids, {}
    if validation_fraction is not None:
        problems = _fraction_problems(validation_fraction, validation_seed)
        if problems:
            return problems, training_ids, {}
        return _split_by_fraction(training_ids, float(validation_fraction), validation_seed)
    if held_out is not None:
        return _split_by_ids(
            connection, training_ids, list(held_out), all_of_connection=all_of_connection
        )
    return {}, training_ids, {}


# --- The worker's writes -----------------------------------------------------------------


def _held_by(worker_id: str) -> Q:
    # As every worker write: only while this worker holds the lease on an active job.
    return Q(lease_owner=worker_id, status__in=ACTIVE_STATUSES)


def finetuning_store_validation_file(
    *, finetuning: Finetuning, worker_id: str, file, summary: dict
) -> bool:
    """Keep the exact validation file and its summary; False when the job moved on."""
    name = default_storage.save(f"validation-files/{finetuning.pk}.jsonl", File(file))
    kept = Finetuning.objects.filter(
        _held_by(worker_id), pk=finetuning.pk, validation_file__in=("", None)
    ).update(
        validation_file=name,
        validation_file_sha256=summary["sha256"],
        validation_file_size=summary["bytes"],
        validation_summary=summary,
        updated_at=timezone.now(),
    )
    if not kept:
        default_storage.delete(name)  # cancelled or taken over meanwhile: not ours to keep
        return False
    FinetuningEvent.objects.create(
        finetuning_id=finetuning.pk,
        kind=FinetuningEventKind.WORKER,
        actor=WORKER_ACTOR,
        message=(
            f"Validation file built: {summary['examples']} examples, {summary['tokens']} "
            f"tokens ({summary['token_counting']})."
        ),
        data=summary,
    )
    return True


def finetuning_record_uploaded_validation_file(
    *, finetuning: Finetuning, worker_id: str, file_id: str
) -> bool:
    return bool(
        Finetuning.objects.filter(_held_by(worker_id), pk=finetuning.pk).update(
            validation_file_id=file_id, updated_at=timezone.now()
        )
    )


def created_note(fields: dict) -> str:
    """What the job's "created" event adds about its split ("" without one)."""
    held_out = fields.get("validation_golden_records")
    if not held_out:
        return ""
    if fields.get("validation_fraction") is None:
        return f" and {len(held_out)} held out for validation"
    return (
        f" and {len(held_out)} held out for validation (fraction "
        f"{fields['validation_fraction']:g}, seed {fields['validation_seed']})"
    )
