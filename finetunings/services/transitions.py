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
from finetunings.services.base import update_returning

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
    swap = _Swap(finetuning_id, to_status, actor, message, fields, only_if, event_data)
    return swap.run(from_status=None, returning=False) is not None


def finetuning_transition_returning(
    *,
    finetuning_id: str,
    to_status: str,
    actor: str,
    from_status: str | None = None,
    message: str = "",
    fields: dict | None = None,
    only_if: Q | None = None,
    event_data: dict | None = None,
) -> Finetuning | None:
    """``finetuning_transition`` that answers with the job as written (None: it did not move).

    The row comes back from the UPDATE itself (``RETURNING``), and ``from_status``, the
    status the caller has just read, is swapped first without reading it again.
    """
    swap = _Swap(finetuning_id, to_status, actor, message, fields, only_if, event_data)
    return swap.run(from_status=from_status, returning=True)


class _Swap:
    def __init__(self, finetuning_id, to_status, actor, message, fields, only_if, event_data):
        self.finetuning_id, self.to_status, self.actor = finetuning_id, to_status, actor
        self.message, self.only_if, self.event_data = message, only_if, event_data
        self.now = timezone.now()
        fields = dict(fields or {})
        if to_status in status.TERMINAL_STATUSES:
            fields = {**_finishing_fields(self.now), **fields}
        self.fields = {"status": to_status, "updated_at": self.now, **fields}

    def run(self, *, from_status: str | None, returning: bool):
        # Each lost swap means the status moved on; the machine is short, so this ends quickly.
        for _attempt in range(_TRANSITION_ATTEMPTS):
            current = from_status or (
                Finetuning.objects.filter(pk=self.finetuning_id)
                .values_list("status", flat=True)
                .first()
            )
            from_status = None
            if current is None or not status.may_move(current, self.to_status):
                return None
            moved = self.swap(current, returning)
            if moved is not None:
                return moved
            if (
                self.only_if is not None
                and Finetuning.objects.filter(pk=self.finetuning_id, status=current).exists()
            ):
                return None  # the status did not move: the extra condition is what failed
        return None

    def swap(self, current: str, returning: bool):
        with transaction.atomic():
            rows = Finetuning.objects.filter(pk=self.finetuning_id, status=current)
            if self.only_if is not None:
                rows = rows.filter(self.only_if)
            moved = update_returning(rows, self.fields) if returning else rows.update(**self.fields)
            if not moved:
                return None
            events.record_status_changed(
                finetuning_id=self.finetuning_id,
                actor=self.actor,
                from_status=current,
                to_status=self.to_status,
                message=self.message,
                data=self.event_data,
            )
            return moved


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
    from_status: str | None = None,
    **fields,
) -> Finetuning | None:
    """Move a job to ``cancelled`` as its user's cancel, with who asked and when.

    Answers with the job as written, or None if it did not move.
    """
    fields.setdefault("cancelled_at", timezone.now())
    return finetuning_transition_returning(
        finetuning_id=finetuning_id,
        to_status=FinetuningStatus.CANCELLED,
        actor=actor,
        from_status=from_status,
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


def record_requested_cancel(
    finetuning_id: str, *, request: dict, provider_status: str
) -> Finetuning | None:
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
