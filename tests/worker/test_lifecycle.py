"""The full life of a job, driven by the worker through the real SDK and the fake OpenAI."""

import json

from finetunings import worker
from finetunings.models import Finetuning, FinetuningEvent, FinetuningEventKind, FinetuningStatus
from tests.fakes.openai_server import CREATE, UPLOAD


def statuses(finetuning):
    return list(
        FinetuningEvent.objects.filter(
            finetuning=finetuning, kind=FinetuningEventKind.STATUS_CHANGED
        ).values_list("to_status", flat=True)
    )


def test_a_job_runs_from_queued_to_succeeded_with_its_model_id(
    run_pass, openai_provider, finetuning
):
    run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert finetuning.finetuning_job_id == remote["id"]
    assert finetuning.finetuning_file_id == remote["training_file"]
    assert remote["metadata"] == {worker.METADATA_KEY: finetuning.pk}
    assert remote["model"] == finetuning.model_name

    openai_provider.set_status(remote["id"], "running")
    Finetuning.objects.filter(pk=finetuning.pk).update(last_polled_at=None)
    run_pass()
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.RUNNING

    openai_provider.add_event(remote["id"], "Fine-tuning job successfully completed")
    openai_provider.set_status(
        remote["id"], "succeeded", fine_tuned_model="ft:gpt-4o-mini:acme::x1"
    )
    Finetuning.objects.filter(pk=finetuning.pk).update(last_polled_at=None)
    run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.SUCCEEDED
    assert finetuning.model_id == "ft:gpt-4o-mini:acme::x1"
    assert finetuning.finished_at is not None
    assert statuses(finetuning) == ["validating_files", "running", "succeeded"]
    provider_events = FinetuningEvent.objects.filter(
        finetuning=finetuning, kind=FinetuningEventKind.PROVIDER_EVENT
    )
    assert [e.message for e in provider_events] == ["Fine-tuning job successfully completed"]


def test_a_failed_job_shows_the_providers_message(run_pass, openai_provider, finetuning):
    run_pass()
    finetuning.refresh_from_db()
    openai_provider.set_status(
        finetuning.finetuning_job_id, "failed", error_message="Training file has invalid format."
    )
    Finetuning.objects.filter(pk=finetuning.pk).update(last_polled_at=None)
    run_pass()

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.FAILED
    assert finetuning.error == "Training file has invalid format."
    assert finetuning.model_id is None


def test_the_uploaded_file_has_one_example_per_golden_record(
    run_pass, openai_provider, finetuning, golden_records, connection
):
    run_pass()

    [file_id] = openai_provider.files
    lines = openai_provider.files[file_id]["content"].decode().splitlines()
    assert len(lines) == len(golden_records)
    by_question = {r.question: r for r in golden_records}
    for line in lines:
        system, user, assistant = json.loads(line)["messages"]
        assert [system["role"], user["role"], assistant["role"]] == ["system", "user", "assistant"]
        assert connection.schema in system["content"]
        assert assistant["content"] == by_question[user["content"]].sql
    assert len(openai_provider.calls_to(UPLOAD)) == 1
    assert len(openai_provider.calls_to(CREATE)) == 1
