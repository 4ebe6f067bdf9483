"""The admin's job list at scale: exact id searches, an indexed alias search, no full count."""

from http import HTTPStatus

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finetunings.admin import job_search
from finetunings.models import Finetuning
from tests.helpers.admin import changelist_url


@pytest.fixture
def jobs(connection, golden_records, make_finetuning):
    return [
        make_finetuning(
            connection,
            alias=f"sales-model-{i}",
            finetuning_job_id=f"ftjob-{i}abc",
            finetuning_file_id=f"file-{i}xyz",
            model_id=f"ft:gpt-4o-mini:sales-{i}",
        )
        for i in range(3)
    ]


def shown(client, term) -> set[str]:
    page = client.get(changelist_url(), {"q": term})
    assert page.status_code == HTTPStatus.OK
    return {job.alias for job in page.context["cl"].result_list}


def test_ids_are_found_exactly_and_only_exactly(viewer_client, jobs):
    assert shown(viewer_client, jobs[1].pk) == {"sales-model-1"}
    assert shown(viewer_client, "ftjob-2abc") == {"sales-model-2"}
    assert shown(viewer_client, "file-0xyz") == {"sales-model-0"}
    assert shown(viewer_client, "ft:gpt-4o-mini:sales-1") == {"sales-model-1"}
    assert shown(viewer_client, jobs[1].pk[:-1]) == set()  # a part of an id finds nothing
    assert shown(viewer_client, "FTJOB-2ABC") == set()  # ids are compared as stored


def test_an_alias_is_found_by_its_beginning_whatever_the_case(viewer_client, jobs):
    assert shown(viewer_client, "SALES-model-1") == {"sales-model-1"}
    assert shown(viewer_client, "  sales  ") == {f"sales-model-{i}" for i in range(3)}


def test_an_alias_is_found_by_any_part_on_postgresql(viewer_client, jobs, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has no trigram index: an alias is found by its beginning there")
    assert shown(viewer_client, "model-2") == {"sales-model-2"}


def test_the_change_list_never_counts_more_than_the_cap(viewer_client, jobs):
    with CaptureQueriesContext(db) as queries:
        for params in ({}, {"status__exact": "queued"}, {"q": "sales"}):
            assert viewer_client.get(changelist_url(), params).status_code == HTTPStatus.OK

    counts = [query["sql"] for query in queries.captured_queries if "COUNT(" in query["sql"]]
    assert counts  # the page does say how many jobs it found
    assert all(f"LIMIT {job_search.COUNT_CAP}" in sql for sql in counts)


@pytest.mark.postgres
def test_the_unfiltered_list_shows_postgresqls_estimate(viewer_client, jobs, monkeypatch):
    monkeypatch.setattr(job_search, "COUNT_CAP", 2)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE finetunings_finetuning")

    with CaptureQueriesContext(db) as queries:
        page = viewer_client.get(changelist_url())

    assert page.context["cl"].result_count == 3
    assert not any("COUNT(" in query["sql"] for query in queries.captured_queries)


@pytest.mark.postgres
@pytest.mark.parametrize("term", ["0123456789abcdef01234567", "ftjob-1abc", "sales-mod"])
def test_a_search_does_not_scan_the_jobs_table(jobs, term):
    # Unordered: with three rows, walking the created_at index is as cheap as anything.
    queryset = job_search.job_search(Finetuning.objects.order_by(), term)
    with db.cursor() as cursor:
        # With only three rows a scan is the cheapest plan; forbidding it shows whether
        # the indexes can serve the search at all: each branch of the OR by its own index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()

    print(plan)  # the EXPLAIN, in the test's output with -s
    assert "Seq Scan" not in plan
    assert "BitmapOr" in plan
    assert plan.count("Bitmap Index Scan") == 5  # the four ids and the alias
    assert "ft_alias_trigram" in plan
