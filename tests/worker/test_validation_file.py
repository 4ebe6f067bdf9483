"""The worker builds, keeps and uploads a job's validation file and passes it to the provider.

Driven through the real SDK against the fake OpenAI (tests/fakes/openai_server.py): what the
provider received is read from the fake, never from our own records of it."""

import json

import pytest

from finetunings import services, training_data
from finetunings.models import (
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningMetric,
    FinetuningStatus,
    GoldenRecord,
)
from tests.fakes.openai_server import CREATE, UPLOAD
from tests.helpers.refresh import due_again, refresh


def questions_in(content: bytes) -> list[str]:
    return [json.loads(line)["messages"][1]["content"] for line in content.splitlines()]


def questions_of(ids: list[str]) -> list[str]:
    by_id = dict(GoldenRecord.objects.filter(pk__in=ids).values_list("id", "question"))
    return [by_id[record_id] for record_id in ids]


@pytest.fixture
def split_job(connection, make_golden_records):
    given = [record.pk for record in make_golden_records(connection, count=20)]
    return services.finetuning_create(
        db_connection_id=connection.pk,
        actor="test",
        golden_records=given,
        validation_fraction=0.25,
    )


def test_the_provider_receives_a_validation_file_disjoint_from_the_training_file(
    openai_provider, split_job, run_pass
):
    run_pass()

    job = Finetuning.objects.get(pk=split_job.pk)
    [remote] = openai_provider.jobs_for(job.pk)
    assert remote["validation_file"] == job.validation_file_id
    assert remote["training_file"] == job.finetuning_file_id
    validation_upload = openai_provider.files[remote["validation_file"]]
    training_upload = openai_provider.files[remote["training_file"]]
    assert validation_upload["purpose"] == "fine-tune"
    held_out = questions_in(validation_upload["content"])
    trained = questions_in(training_upload["content"])
    # Disjoint, and together exactly the records the job was asked to use, in their order.
    assert not set(held_out) & set(trained)
    assert held_out == questions_of(job.validation_golden_records)
    assert trained == questions_of(job.golden_records)
    assert len(held_out) + len(trained) == 20
    # The kept file is what was uploaded, and the job says what it holds.
    with job.validation_file.open("rb") as kept:
        assert kept.read() == validation_upload["content"]
    assert job.validation_summary["examples"] == 5


def test_the_timeline_says_what_the_kept_validation_file_holds(
    openai_provider, split_job, run_pass
):
    run_pass()

    job = Finetuning.objects.get(pk=split_job.pk)
    notes = FinetuningEvent.objects.filter(finetuning=job, kind=FinetuningEventKind.WORKER)
    [built] = [note for note in notes if note.message.startswith("Validation file built")]
    assert built.message == services.VALIDATION_FILE_BUILT_MESSAGE.format(**job.validation_summary)
    assert built.data == job.validation_summary


def test_validation_loss_is_reported_for_a_job_with_a_validation_file(
    openai_provider, split_job, run_pass
):
    run_pass()
    job = Finetuning.objects.get(pk=split_job.pk)
    openai_provider.train(job.finetuning_job_id, 5, total_steps=5)
    due_again(job)

    refresh()

    rows = FinetuningMetric.objects.filter(finetuning=job).order_by("step")
    assert [row.step for row in rows] == [1, 2, 3, 4, 5]
    assert all(row.valid_loss is not None for row in rows)
    assert all(row.valid_loss > row.train_loss for row in rows)


def test_a_job_without_a_split_sends_no_validation_file(openai_provider, finetuning, run_pass):
    run_pass()

    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert remote["validation_file"] is None
    assert len(openai_provider.calls_to(UPLOAD)) == 1
    job = Finetuning.objects.get(pk=finetuning.pk)
    assert job.validation_file_id is None
    assert not job.validation_file


def test_a_held_out_record_deleted_before_submission_fails_the_job_before_any_upload(
    openai_provider, split_job, run_pass
):
    for record_id in split_job.validation_golden_records[:2]:
        services.golden_record_delete(golden_record=GoldenRecord.objects.get(pk=record_id))

    run_pass()

    job = Finetuning.objects.get(pk=split_job.pk)
    assert job.status == FinetuningStatus.FAILED
    assert job.error == training_data.MISSING_VALIDATION_RECORDS_MESSAGE.format(missing=2, total=5)
    assert openai_provider.calls_to(UPLOAD) == []
    assert openai_provider.calls_to(CREATE) == []


def test_a_retry_after_a_lost_create_reuses_both_uploaded_files(
    openai_provider, split_job, make_due, run_pass
):
    openai_provider.lose_next_response(CREATE)
    run_pass()
    first = Finetuning.objects.get(pk=split_job.pk)
    assert first.validation_file_id is not None
    assert first.finetuning_job_id is None

    make_due(first)
    run_pass()

    job = Finetuning.objects.get(pk=split_job.pk)
    [remote] = openai_provider.jobs_for(job.pk)  # found by metadata: no second paid job
    assert job.finetuning_job_id == remote["id"]
    assert remote["validation_file"] == first.validation_file_id
    assert len(openai_provider.calls_to(UPLOAD)) == 2  # training and validation, once each
