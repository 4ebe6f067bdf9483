"""The status machine: every change of a job's status goes through ``finetuning_transition``.

A change is a compare-and-swap on the status just read (exactly one of several concurrent
callers wins) that writes its ``status_changed`` event in the same transaction. The table
of allowed moves is ``finetunings.status.ALLOWED_TRANSITIONS``.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetunings import errors, status
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.services import events

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
    now = timezone.now()
    fields = dict(fields or {})
    if to_status in status.TERMINAL_STATUSES:
        fields = {**_finishing_fields(now), **fields}
    # Each lost swap means the status moved on; the machine is short, so this ends quickly.
    for _attempt in range(_TRANSITION_ATTEMPTS):
        current = (
            Finetuning.objects.filter(pk=finetuning_id).values_list("status", flat=True).first()
        )
        if current is None or not status.may_move(current, to_status):
            return False
        with transaction.atomic():
            rows = Finetuning.objects.filter(pk=finetuning_id, status=current)
            if only_if is not None:
                rows = rows.filter(only_if)
            if rows.update(status=to_status, updated_at=now, **fields):
                events.record_status_changed(
                    finetuning_id=finetuning_id,
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


def _finishing_fields(now) -> dict:
    # A finished job waits for nothing: no "will try again at ..." may outlive it.
    return {
        "status_message": None,
        "finished_at": now,
        "lease_owner": None,
        "lease_until": None,
        "cancel_lease_until": None,
        "cancel_request": None,
    }


def merged_metadata(current, requested):
    return {**(current or {}), **requested} if requested else current


def mark_cancelled_by_user(
    finetuning_id: str,
    *,
    actor: str,
    metadata,
    only_if: Q | None = None,
    event_data: dict | None = None,
    **fields,
) -> bool:
    """Move a job to ``cancelled`` as its user's cancel, with who asked and when."""
    fields.setdefault("cancelled_at", timezone.now())
    return finetuning_transition(
        finetuning_id=finetuning_id,
        to_status=FinetuningStatus.CANCELLED,
        actor=actor,
        message=errors.CANCELLED_BY_USER_MESSAGE,
        only_if=only_if,
        fields={
            "error": errors.CANCELLED_BY_USER_MESSAGE,
            "metadata": metadata,
            "cancelled_by": actor,
            **fields,
        },
        event_data=event_data,
    )


def record_requested_cancel(finetuning_id: str, *, request: dict, provider_status: str) -> bool:
    """Record a user's cancel that the provider accepted, from its ``cancel_request``."""
    current = Finetuning.objects.filter(pk=finetuning_id).values_list("metadata", flat=True).first()
    return mark_cancelled_by_user(
        finetuning_id,
        actor=request["actor"],
        metadata=merged_metadata(current, request.get("metadata")),
        cancelled_at=datetime.fromisoformat(request["at"]),
        provider_status=provider_status,
        event_data={"provider_status": provider_status},
    )
