"""Reads compiled once and run again with new values: the same rows as their queryset."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from finetunings import selectors
from finetunings.models import Finetuning, FinetuningMetric
from finetunings.prepared import PreparedRead
from tests.helpers.threads import run_at_once

FIELDS = ("id", "alias", "status", "metadata", "golden_records", "created_at", "progress_step")


def _jobs_by_id(finetuning_id):
    return selectors.finetuning_list().filter(pk=finetuning_id).values(*FIELDS)


@pytest.fixture
def jobs(connection, golden_records, make_finetuning):
    made = [
        make_finetuning(connection, metadata={"team": f"t{i}", "emoji": "🚀"}) for i in range(3)
    ]
    FinetuningMetric.objects.create(finetuning=made[1], step=3, total_steps=9)
    return made


def test_a_prepared_read_gives_each_row_as_its_queryset_does(jobs):
    read = PreparedRead(_jobs_by_id, "finetuning_id")

    for job in jobs:
        assert read.first(finetuning_id=job.pk) == _jobs_by_id(job.pk).get()
    assert read.first(finetuning_id=jobs[1].pk)["progress_step"] == 3
    assert read.first(finetuning_id=jobs[0].pk)["metadata"] == {"team": "t0", "emoji": "🚀"}


def test_the_query_is_built_once_and_each_read_is_one_query(jobs, django_assert_num_queries):
    built = []

    def build(finetuning_id):
        built.append(finetuning_id)
        return _jobs_by_id(finetuning_id)

    read = PreparedRead(build, "finetuning_id")
    for job in jobs:
        with django_assert_num_queries(1):
            assert read.first(finetuning_id=job.pk)["id"] == job.pk

    assert len(built) == 1


def test_no_matching_row_reads_as_none(jobs):
    read = PreparedRead(_jobs_by_id, "finetuning_id")

    assert read.first(finetuning_id="no-such-job") is None
    assert read.rows(finetuning_id="no-such-job") == []


def test_a_value_the_query_changes_on_its_way_to_the_sql_is_refused(db):
    # icontains wraps the value in wildcards: putting a new value in its place would be wrong.
    read = PreparedRead(
        lambda alias: Finetuning.objects.filter(alias__icontains=alias).values("id"), "alias"
    )

    with pytest.raises(ImproperlyConfigured, match="'alias' is not one plain parameter"):
        read.rows(alias="shop")


@pytest.mark.django_db(transaction=True)
def test_each_thread_reads_through_a_query_compiled_for_its_own_connection(
    connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)
    built = []

    def build(finetuning_id):
        built.append(finetuning_id)
        return _jobs_by_id(finetuning_id)

    read = PreparedRead(build, "finetuning_id")
    found = [read.first(finetuning_id=job.pk)["id"]]

    failures = run_at_once(lambda _: found.append(read.first(finetuning_id=job.pk)["id"]))

    assert failures == []
    assert found == [job.pk] * 3
    assert len(built) == 3  # this thread's connection, then one per new thread's
