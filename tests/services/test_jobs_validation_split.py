"""Jobs created with a validation split (services.jobs): the split stored on the job and in
its "created" event, the same refusals for the admin's form as for the API, and the kept
validation file deleted with the job."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import TestCase

from finetunings import errors, services, validation_split
from finetunings.models import Finetuning, FinetuningEvent, FinetuningEventKind, FinetuningStatus


def test_a_job_drawn_with_a_fraction_records_how_to_repeat_its_split(
    connection, make_golden_records
):
    given = [record.pk for record in make_golden_records(connection, count=20)]

    job = services.finetuning_create(
        db_connection_id=connection.pk,
        actor="test",
        golden_records=given,
        validation_fraction=0.25,
    )

    assert len(job.validation_golden_records) == 5
    assert not set(job.golden_records) & set(job.validation_golden_records)
    assert sorted(job.golden_records + job.validation_golden_records) == sorted(given)
    assert job.validation_fraction == 0.25
    assert 0 <= job.validation_seed <= validation_split.SEED_MAX
    repeated = validation_split.split(
        job.golden_records + job.validation_golden_records,
        fraction=job.validation_fraction,
        seed=job.validation_seed,
    )
    assert repeated == (job.golden_records, job.validation_golden_records)
    created = FinetuningEvent.objects.get(finetuning=job, kind=FinetuningEventKind.CREATED)
    assert f"5 held out for validation (fraction 0.25, seed {job.validation_seed})" in (
        created.message
    )


def test_a_seed_given_again_repeats_an_earlier_jobs_split(connection, make_golden_records):
    given = [record.pk for record in make_golden_records(connection, count=30)]
    first = services.finetuning_create(
        db_connection_id=connection.pk, actor="test", golden_records=given, validation_fraction=0.2
    )

    again = services.finetuning_create(
        db_connection_id=connection.pk,
        actor="test",
        golden_records=given,
        validation_fraction=0.2,
        validation_seed=first.validation_seed,
    )

    assert again.validation_golden_records == first.validation_golden_records
    assert again.golden_records == first.golden_records


def test_listed_ids_are_taken_out_of_all_of_the_connections_records(
    connection, make_golden_records
):
    records = [record.pk for record in make_golden_records(connection, count=13)]
    held_out = records[:3]

    job = services.finetuning_create(
        db_connection_id=connection.pk, actor="test", validation_golden_records=held_out
    )

    assert job.validation_golden_records == held_out
    assert sorted(job.golden_records) == sorted(records[3:])
    assert job.validation_fraction is None
    assert job.validation_seed is None


def test_without_a_split_nothing_is_held_out(connection, golden_records):
    job = services.finetuning_create(
        db_connection_id=connection.pk, actor="test", validation_golden_records=[]
    )

    assert job.validation_golden_records == []
    assert len(job.golden_records) == len(golden_records)


def test_the_admins_form_and_the_api_share_the_same_refusals(connection, golden_records):
    problems = services.finetuning_create_problems(
        db_connection_id=connection.pk,
        golden_records=[record.pk for record in golden_records],
        validation_golden_records=[golden_records[0].pk],
    )

    assert list(problems) == ["validation_golden_records"]
    with pytest.raises(errors.ValidationFailed):
        services.finetuning_create(
            db_connection_id=connection.pk,
            actor="test",
            golden_records=[record.pk for record in golden_records],
            validation_golden_records=[golden_records[0].pk],
        )


def test_deleting_a_finished_job_deletes_its_validation_file(finetuning):
    kept = default_storage.save("validation-files/kept.jsonl", ContentFile(b"{}\n"))
    Finetuning.objects.filter(pk=finetuning.pk).update(
        validation_file=kept, status=FinetuningStatus.FAILED
    )

    with TestCase.captureOnCommitCallbacks(execute=True):
        services.finetuning_delete(finetuning=finetuning)

    assert not default_storage.exists(kept)
