"""The job's timeline: provider events read again are stored once, and a webhook delivery
is recorded once per event id."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from finetunings.models import FinetuningEvent, FinetuningEventKind
from finetunings.providers.base import ProviderEvent
from finetunings.services import events


def provider_event(event_id, message):
    return ProviderEvent(
        id=event_id,
        created_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        level="info",
        message=message,
    )


def provider_events_of(job):
    rows = FinetuningEvent.objects.filter(finetuning=job, kind=FinetuningEventKind.PROVIDER_EVENT)
    return list(rows.order_by("provider_sequence").values_list("provider_event_id", "message"))


def test_provider_events_read_again_are_stored_once(finetuning):
    first = [(provider_event("ev1", "Job started."), 1)]
    again = [(provider_event("ev1", "Job started."), 1), (provider_event("ev2", "Step 1."), 2)]

    events.record_provider_events([(finetuning, first, None)])
    events.record_provider_events([(finetuning, again, None)])

    assert provider_events_of(finetuning) == [("ev1", "Job started."), ("ev2", "Step 1.")]


def test_a_webhook_event_delivered_twice_is_refused_the_second_time(finetuning):
    events.record_webhook_received(
        finetuning_id=finetuning.pk, event_id="evt_1", event_type="fine_tuning.job.succeeded"
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        events.record_webhook_received(
            finetuning_id=finetuning.pk, event_id="evt_1", event_type="fine_tuning.job.succeeded"
        )

    assert provider_events_of(finetuning) == [
        ("evt_1", "Webhook fine_tuning.job.succeeded received.")
    ]


def test_a_metadata_update_names_the_fields_it_changed(finetuning):
    event = events.record_metadata_updated(
        finetuning_id=finetuning.pk, actor="alice", changes={"metadata": {}, "alias": "x"}
    )

    assert (event.kind, event.actor, event.message) == (
        FinetuningEventKind.METADATA_UPDATED,
        "alice",
        "Updated alias, metadata.",
    )
