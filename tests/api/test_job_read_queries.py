"""List and retrieve of jobs: one query for the jobs, whatever the page holds."""

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings.models import FinetuningMetric

API = "/api/v1/finetunings"


def _queries(api, url, params=None) -> int:
    api.get(API)  # the key's once-a-minute touch is not the read's cost
    with CaptureQueriesContext(db_connection) as queries:
        response = api.get(url, params)
    assert response.status_code == 200, response.content
    return len(queries.captured_queries)


def test_a_page_of_jobs_with_progress_is_read_in_one_query_after_the_key(
    api, connection, golden_records, make_finetuning
):
    for _ in range(5):
        job = make_finetuning(connection, status="running")
        FinetuningMetric.objects.create(finetuning=job, step=1, total_steps=4)

    assert _queries(api, API, {"limit": 100}) == 2
    assert _queries(api, API, {"status": "running", "limit": 3}) == 2


def test_a_job_is_retrieved_in_one_query_after_the_key(api, finetuning):
    FinetuningMetric.objects.create(finetuning=finetuning, step=1, total_steps=4)

    assert _queries(api, f"{API}/{finetuning.pk}") == 2


def test_a_filter_parameter_on_a_retrieve_still_filters(api, finetuning):
    # DRF filters a retrieve too: a job that does not match is not found.
    assert api.get(f"{API}/{finetuning.pk}", {"status": "queued"}).status_code == 200
    assert api.get(f"{API}/{finetuning.pk}", {"status": "failed"}).status_code == 404
    assert api.get(f"{API}/{finetuning.pk}", {"status": "nope"}).status_code == 400
