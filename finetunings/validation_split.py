"""A job's validation split: which golden records are held out of training, and why not.

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

Pure functions over ids: ``services.jobs`` checks the listed ids against the database (as
it checks ``golden_records``) and stores the result; ``services.submission`` keeps the file.
"""

import hashlib
import math
import secrets
from typing import NamedTuple

from finetunings import validation

FRACTION_MAX = 0.5
# A seed fits every client's integer type (JavaScript's safe integers included).
SEED_MAX = 2**31 - 1

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


class Split(NamedTuple):
    """What a create request's split comes to: problems by field (empty when none), the
    ids the job trains on, and the job's ``validation_*`` fields (empty without a split)."""

    problems: dict[str, list[str]]
    training_ids: list[str]
    fields: dict


def _refused(training_ids: list[str], field: str, message: str) -> Split:
    return Split({field: [message]}, training_ids, {})


# --- The draw ----------------------------------------------------------------------------


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


# --- A create request's split ------------------------------------------------------------


def request_problems(*, held_out, fraction, seed) -> dict[str, list[str]]:
    """What is wrong with the request's split fields on their own (before any id is read)."""
    if held_out is not None and fraction is not None:
        return {"validation_fraction": [BOTH_GIVEN_MESSAGE]}
    if seed is not None and fraction is None:
        return {"validation_seed": [SEED_WITHOUT_FRACTION_MESSAGE]}
    problems: dict[str, list[str]] = {}
    if fraction is not None:
        is_number = isinstance(fraction, int | float) and not isinstance(fraction, bool)
        if not (is_number and math.isfinite(fraction) and 0 <= fraction <= FRACTION_MAX):
            problems["validation_fraction"] = [FRACTION_RANGE_MESSAGE]
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX
    ):
        problems["validation_seed"] = [SEED_RANGE_MESSAGE]
    return problems


def draw(training_ids: list[str], *, fraction: float, seed: int | None) -> Split:
    """Hold out a random ``fraction`` of ``training_ids`` (a new seed when none is given)."""
    seed = new_seed() if seed is None else seed
    training, held_out = split(training_ids, fraction=fraction, seed=seed)
    total, minimum = len(training_ids), validation.GOLDEN_RECORDS_MINIMUM
    if not held_out:
        message = NONE_HELD_OUT_MESSAGE.format(fraction=fraction, total=total)
        return _refused(training_ids, "validation_fraction", message)
    if len(training) < minimum:
        message = TOO_FEW_LEFT_MESSAGE.format(
            fraction=fraction, total=total, left=len(training), minimum=minimum
        )
        return _refused(training_ids, "validation_fraction", message)
    fields = {
        "validation_golden_records": held_out,
        "validation_fraction": fraction,
        "validation_seed": seed,
    }
    return Split({}, training, fields)


def hold_out(training_ids: list[str], held_out: list[str], *, all_of_connection: bool) -> Split:
    """Hold out the listed (and already checked) ids.

    ``all_of_connection``: ``training_ids`` are all of the connection's records, not the
    client's list, so the held-out ones are taken out of them rather than refused.
    """
    if all_of_connection:
        held = set(held_out)
        training_ids = [record_id for record_id in training_ids if record_id not in held]
        if len(training_ids) < validation.GOLDEN_RECORDS_MINIMUM:
            message = TOO_FEW_TRAINING_MESSAGE.format(
                minimum=validation.GOLDEN_RECORDS_MINIMUM,
                left=len(training_ids),
                held_out=len(held_out),
            )
            return _refused(training_ids, "golden_records", message)
    else:
        training = set(training_ids)
        both = [record_id for record_id in dict.fromkeys(held_out) if record_id in training]
        if both:
            message = ALSO_TRAINING_MESSAGE.format(ids=validation.name_ids(both))
            return _refused(training_ids, "validation_golden_records", message)
    return Split({}, training_ids, {"validation_golden_records": list(held_out)})


def created_note(finetuning) -> str:
    """What the job's "created" event adds about its split ("" without one)."""
    held_out = finetuning.validation_golden_records
    if not held_out:
        return ""
    if finetuning.validation_fraction is None:
        return f" and {len(held_out)} held out for validation"
    return (
        f" and {len(held_out)} held out for validation (fraction "
        f"{finetuning.validation_fraction:g}, seed {finetuning.validation_seed})"
    )
