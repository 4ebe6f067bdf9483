"""Keeping our jobs in step with the provider's: a webhook makes a job due once, a 429
pauses one provider, and a job the provider cannot show or no longer has says so."""

from datetime import timedelta

from django.utils import timezone

from finetunings.models import (
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningStatus,
    ProviderPause,
)
from finetunings.services.provider_sync import (
    finetuning_mark_due,
    finetuning_record_provider_job_gone,
    finetuning_record_provider_problem,
    provider_pause,
)


def test_a_webhook_makes_the_job_due_and_the_same_event_again_changes_nothing(finetuning):
    Finetuning.objects.filter(pk=finetuning.pk).update(last_polled_at=timezone.now())

    first = finetuning_mark_due(finetuning=finetuning, event_id="evt_1", event_type="x")
    assert Finetuning.objects.get(pk=finetuning.pk).last_polled_at is None  # due now
    Finetuning.objects.filter(pk=finetuning.pk).update(last_polled_at=timezone.now())
    again = finetuning_mark_due(finetuning=finetuning, event_id="evt_1", event_type="x")

    assert (first, again) == (True, False)
    assert Finetuning.objects.get(pk=finetuning.pk).last_polled_at is not None  # not again
    assert FinetuningEvent.objects.filter(provider_event_id="evt_1").count() == 1


def test_a_second_pause_of_a_provider_replaces_the_first(db):
    provider_pause(provider="openai", seconds=60, reason="429 from files")
    provider_pause(provider="openai", seconds=600, reason="429 from jobs")

    (pause,) = ProviderPause.objects.all()
    assert (pause.provider, pause.reason) == ("openai", "429 from jobs")
    assert pause.paused_until > timezone.now() + timedelta(seconds=300)


def test_a_provider_problem_is_told_on_the_job_and_frees_its_lease(finetuning):
    Finetuning.objects.filter(pk=finetuning.pk).update(lease_owner="w1")

    finetuning_record_provider_problem(
        finetuning=finetuning, message="job not found", worker_id="w1"
    )

    job = Finetuning.objects.get(pk=finetuning.pk)
    assert "job not found" in job.status_message
    assert (job.lease_owner, job.status) == (None, FinetuningStatus.QUEUED)
    assert job.last_polled_at is not None


def test_a_finished_jobs_vanished_provider_job_is_noted_once_an_active_ones_is_not(
    connection, golden_records, make_finetuning
):
    finished = make_finetuning(connection, status="cancelled", finetuning_job_id="ftjob-1")
    active = make_finetuning(connection, status="running", finetuning_job_id="ftjob-2")

    finetuning_record_provider_job_gone(finetuning=finished, message="404")
    finetuning_record_provider_job_gone(finetuning=active, message="404")

    notes = FinetuningEvent.objects.filter(kind=FinetuningEventKind.WORKER)
    assert [note.finetuning_id for note in notes] == [finished.pk]
    assert "ftjob-1" in notes[0].message
    assert Finetuning.objects.get(pk=active.pk).provider_status != "not_found"
    assert Finetuning.objects.get(pk=finished.pk).provider_status == "not_found"
