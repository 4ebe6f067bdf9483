"""The job list's status filter selects rows without SELECT DISTINCT, and finds the same jobs."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings.models import FinetuningStatus

URL = "/api/v1/finetunings"


@pytest.fixture
def jobs(connection, golden_records, make_finetuning):
    return {
        status: make_finetuning(connection, status=status)
        for status in (FinetuningStatus.QUEUED, FinetuningStatus.RUNNING, FinetuningStatus.FAILED)
    }


@pytest.mark.django_db
def test_status_filter_lists_each_matching_job_once_without_distinct(api, jobs):
    with CaptureQueriesContext(db_connection) as captured:
        response = api.get(URL, {"status": ["running", "failed", "running"]})

    assert response.status_code == 200
    ids = [job["id"] for job in response.json()["results"]]
    assert ids == [jobs[FinetuningStatus.FAILED].pk, jobs[FinetuningStatus.RUNNING].pk]
    assert not [q for q in captured.captured_queries if "DISTINCT" in q["sql"].upper()]
