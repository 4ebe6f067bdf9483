"""How many statements a cancel costs: its claim reads the job, its write is the answer."""

from http import HTTPStatus

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

# Every statement the capture (and so the benchmark) counts, transaction control included;
# the claim runs alone, outside a transaction, and the cancel with its event in one.
CANCEL_STATEMENTS = ["SELECT", "UPDATE", "BEGIN", "UPDATE", "INSERT", "COMMIT"]


def _cancel_statements(api, job) -> tuple[dict, list[str]]:
    api.get("/api/v1/finetunings")  # the key's once-a-minute touch is not the cancel's cost
    with CaptureQueriesContext(db_connection) as queries:
        response = api.post(f"/api/v1/finetunings/{job.pk}/cancel", {}, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json(), [query["sql"].split()[0].upper() for query in queries]


# Without a test transaction around it, the request runs the statements production runs.
pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_at_an_instant_provider_is_the_key_the_claim_and_the_cancelling_write(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status="running", finetuning_job_id=remote.id)

    body, statements = _cancel_statements(api, job)

    assert body["status"] == "cancelled"
    assert body["golden_records"] == job.golden_records
    # The key; the cancel lease, whose UPDATE ... RETURNING is the read of the job; the
    # cancel (its row RETURNED, the lease released with it) and its event.
    assert statements == CANCEL_STATEMENTS
    assert provider.calls_to("cancel_job") == [remote.id]


def test_cancel_of_a_job_with_no_provider_job_costs_the_same(api, finetuning):
    body, statements = _cancel_statements(api, finetuning)

    assert body["status"] == "cancelled"
    assert statements == CANCEL_STATEMENTS


def test_the_answer_of_a_cancel_carries_the_progress_read_by_its_claim(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status="running", finetuning_job_id=remote.id)
    job.metrics.create(step=3, total_steps=12, train_loss=0.5)

    body, statements = _cancel_statements(api, job)

    assert body["progress"] == {"step": 3, "total_steps": 12, "percent": 25.0}
    assert statements == CANCEL_STATEMENTS
