"""The validation split chosen on create: disjoint parts that together are the job's records,
and a drawn split that anyone can repeat from what the job records."""

import hashlib
import os
import random
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import TestCase

from finetunings import errors, services, validation_split
from finetunings.models import Finetuning, FinetuningEvent, FinetuningEventKind, FinetuningStatus

IDS = [f"{index:024x}" for index in range(40)]


def test_the_two_parts_are_disjoint_and_together_are_the_ids_in_their_order():
    training, held_out = validation_split.split(IDS, fraction=0.25, seed=7)

    assert len(held_out) == 10
    assert not set(training) & set(held_out)
    assert sorted(training + held_out) == sorted(IDS)
    assert training == [i for i in IDS if i in set(training)]
    assert held_out == [i for i in IDS if i in set(held_out)]


def test_the_same_ids_fraction_and_seed_give_the_same_split_in_any_order():
    _training, held_out = validation_split.split(IDS, fraction=0.2, seed=12345)
    shuffled = IDS[:]
    random.Random(1).shuffle(shuffled)

    _again, held_out_again = validation_split.split(shuffled, fraction=0.2, seed=12345)

    assert set(held_out_again) == set(held_out)


def test_another_seed_draws_another_split():
    _training, one = validation_split.split(IDS, fraction=0.2, seed=1)
    _training, other = validation_split.split(IDS, fraction=0.2, seed=2)

    assert set(one) != set(other)


def test_the_documented_procedure_is_the_split():
    # The README tells clients how to repeat a split without this code: rank by SHA-256.
    seed, fraction = 99, 0.3
    ranked = sorted(IDS, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    expected = set(ranked[: validation_split.held_out_count(len(IDS), fraction)])

    _training, held_out = validation_split.split(IDS, fraction=fraction, seed=seed)

    assert set(held_out) == expected


@pytest.mark.parametrize(
    ("total", "fraction", "count"),
    [(10, 0.05, 1), (10, 0.04, 0), (15, 0.1, 2), (12, 0.5, 6), (11, 0.0, 0)],
)
def test_a_fraction_holds_out_its_share_rounded_half_up(total, fraction, count):
    assert validation_split.held_out_count(total, fraction) == count


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


def test_prune_deletes_validation_files_no_job_refers_to(finetuning):
    kept = default_storage.save("validation-files/kept.jsonl", ContentFile(b"{}\n"))
    Finetuning.objects.filter(pk=finetuning.pk).update(validation_file=kept)
    orphan = default_storage.save("validation-files/deleted-job.jsonl", ContentFile(b"{}\n"))
    two_days_ago = time.time() - 2 * 86400
    for name in (kept, orphan):
        os.utime(default_storage.path(name), (two_days_ago, two_days_ago))

    call_command("prune")

    assert default_storage.exists(kept)
    assert not default_storage.exists(orphan)
