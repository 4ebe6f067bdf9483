"""How many statements a cancel costs: the job read once, the answer from the write."""

from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

# Transaction control (SQLite's BEGIN IMMEDIATE and COMMIT show up in the capture,
# PostgreSQL's do not): counted apart from the statements that read or write.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")


def _cancel_statements(api, job) -> tuple[dict, list[str]]:
    api.get("/api/v1/finetunings")  # the key's once-a-minute touch is not the cancel's cost
    with CaptureQueriesContext(db_connection) as queries:
        response = api.post(f"/api/v1/finetunings/{job.pk}/cancel", {}, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    verbs = [query["sql"].split(None, 1)[0].upper() for query in queries.captured_queries]
    return response.json(), [verb for verb in verbs if verb not in TRANSACTION_CONTROL]


# Without a test transaction around it, the request runs the statements production runs.
pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_at_an_instant_provider_reads_the_job_once_and_answers_from_its_write(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status="running", finetuning_job_id=remote.id)

    body, statements = _cancel_statements(api, job)

    assert body["status"] == "cancelled"
    # The key, the job; the cancel lease; the cancel (its row RETURNED) and its event.
    assert statements == ["SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT"]


def test_cancel_of_a_job_with_no_provider_job_reads_it_once(api, finetuning):
    body, statements = _cancel_statements(api, finetuning)

    assert body["status"] == "cancelled"
    assert statements == ["SELECT", "SELECT", "UPDATE", "INSERT"]
