"""The job's timeline: the one place that writes each kind of ``FinetuningEvent``.

Callers write an event inside the transaction of the change it tells of, so a timeline
never shows a change that did not happen, nor misses one that did.
"""

from django.utils import timezone

from finetunings import validation_split
from finetunings.models import FinetuningEvent, FinetuningEventKind

WORKER_ACTOR = "worker"
PROVIDER_ACTOR = "provider"
PROVIDER_WEBHOOK_ACTOR = "provider webhook"


def record_created(*, finetuning, actor: str) -> FinetuningEvent:
    split = validation_split.created_note(finetuning)
    return FinetuningEvent.objects.create(
        finetuning=finetuning,
        kind=FinetuningEventKind.CREATED,
        actor=actor,
        to_status=finetuning.status,
        message=f"Created with {len(finetuning.golden_records)} golden records{split}.",
    )


def record_status_changed(
    *, finetuning_id: str, actor: str, from_status: str, to_status: str, message: str, data
) -> FinetuningEvent:
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id,
        kind=FinetuningEventKind.STATUS_CHANGED,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        message=message,
        data=data,
    )


def record_metadata_updated(*, finetuning_id: str, actor: str, changes: dict) -> FinetuningEvent:
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id,
        kind=FinetuningEventKind.METADATA_UPDATED,
        actor=actor,
        message=f"Updated {', '.join(sorted(changes))}.",
        data=changes,
    )


def record_worker_note(
    *, finetuning_id: str, message: str, data=None, actor: str = WORKER_ACTOR
) -> FinetuningEvent:
    """Something the worker (or a cancel acting like it) did to the job besides a status."""
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id,
        kind=FinetuningEventKind.WORKER,
        actor=actor,
        message=message,
        data=data,
    )


def record_error(*, finetuning_id: str, actor: str, message: str) -> FinetuningEvent:
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id, kind=FinetuningEventKind.ERROR, actor=actor, message=message
    )


def record_webhook_received(*, finetuning_id: str, event_id: str, event_type: str):
    """Raises ``IntegrityError`` when this webhook event was stored already."""
    return FinetuningEvent.objects.create(
        finetuning_id=finetuning_id,
        kind=FinetuningEventKind.PROVIDER_EVENT,
        actor=PROVIDER_WEBHOOK_ACTOR,
        message=f"Webhook {event_type} received.",
        data={"type": event_type},
        provider_event_id=event_id,
    )


def record_provider_events(items: list) -> int:
    """Store provider events read for a batch: ``(finetuning, [(event, sequence)], _)``.

    An event stored already (read again) is skipped: each is stored once.
    """
    rows = [
        _provider_event_row(finetuning.pk, event, sequence)
        for finetuning, events, _cursor in items
        for event, sequence in events
    ]
    FinetuningEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def _provider_event_row(finetuning_id: str, event, sequence) -> FinetuningEvent:
    return FinetuningEvent(
        finetuning_id=finetuning_id,
        kind=FinetuningEventKind.PROVIDER_EVENT,
        actor=PROVIDER_ACTOR,
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
