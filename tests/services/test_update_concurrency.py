"""Two edits of different fields of one row at once: both changes must survive."""

import threading
from http import HTTPStatus

import pytest
from django.db import connections
from rest_framework.test import APIClient

from finetunings.models import DatabaseConnection, Finetuning, GoldenRecord

ROUNDS = 20


def patch_at_once(url: str, bodies: list[dict], raw_key: str) -> list[int | str]:
    """PATCH ``url`` with each body from its own thread, all released together."""
    barrier = threading.Barrier(len(bodies))
    results: list[int | str] = []

    def patch(body):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            barrier.wait()
            results.append(client.patch(url, body, format="json").status_code)
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=patch, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_schema_and_metadata_of_a_connection_both_survive(
    connection, api_key
):
    url = f"/api/v1/database-connections/{connection.pk}"
    for round_ in range(ROUNDS):
        schema = f"CREATE TABLE t{round_} (id int);"
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{"schema": schema}, {"metadata": metadata}], api_key[1])

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = DatabaseConnection.objects.get(pk=connection.pk)
        assert (stored.schema, stored.metadata) == (schema, metadata), f"round {round_}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_question_and_metadata_of_a_golden_record_both_survive(
    golden_records, api_key
):
    record = golden_records[0]
    url = f"/api/v1/golden-records/{record.pk}"
    for round_ in range(ROUNDS):
        question = f"How many orders were there in round {round_}?"
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{"question": question}, {"metadata": metadata}], api_key[1])

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = GoldenRecord.objects.get(pk=record.pk)
        assert (stored.question, stored.metadata) == (question, metadata), f"round {round_}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_alias_and_metadata_of_a_job_both_survive(finetuning, api_key):
    url = f"/api/v1/finetunings/{finetuning.pk}"
    for round_ in range(ROUNDS):
        alias = f"job-round-{round_}"
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{"alias": alias}, {"metadata": metadata}], api_key[1])

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = Finetuning.objects.get(pk=finetuning.pk)
        assert (stored.alias, stored.metadata) == (alias, metadata), f"round {round_}"
