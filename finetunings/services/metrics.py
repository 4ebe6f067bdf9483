"""Training metrics and checkpoints: the per-step figures a provider reports.

Figures come from the provider's events, its result file (a CSV, at the end) and its
checkpoints; each is stored once per job and step, and read again changes nothing.
"""

import base64
import binascii
import csv
import io
import math

from django.db import transaction

from finetunings.models import Finetuning, FinetuningCheckpoint, FinetuningMetric


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
