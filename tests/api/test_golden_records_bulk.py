"""A bulk create of golden records: each distinct statement parsed once, rows written in bulk."""

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings import validation
from finetunings.models import GoldenRecord

API = "/api/v1/golden-records"


def payload(connection, count, distinct=3):
    return [
        {
            "db_connection_id": connection.pk,
            "question": f"Question {i}?",
            "sql": f"SELECT {i % distinct} FROM orders",
            "metadata": {"n": str(i)},
        }
        for i in range(count)
    ]


def test_each_distinct_statement_is_parsed_once_per_request(api, connection, monkeypatch):
    parsed = []
    parse = validation.sql_problems

    def counting(sql, dialect):
        parsed.append(sql)
        return parse(sql, dialect)

    monkeypatch.setattr(validation, "sql_problems", counting)

    response = api.post(API, payload(connection, 60), format="json")

    assert response.status_code == 201
    assert sorted(parsed) == [f"SELECT {i} FROM orders" for i in range(3)]


def test_the_statements_do_not_grow_with_the_records(api, connection):
    def statements(count):
        with CaptureQueriesContext(db_connection) as queries:
            response = api.post(API, payload(connection, count), format="json")
        assert response.status_code == 201
        return len(queries.captured_queries)

    api.get(API)  # the key's once-a-minute touch
    assert statements(10) == statements(100)


def test_the_answer_lists_the_records_as_stored(api, connection):
    response = api.post(API, payload(connection, 12), format="json")

    stored = api.get(API, {"db_connection_id": connection.pk, "limit": 100}).json()["results"]
    assert sorted(response.json(), key=lambda r: r["id"]) == sorted(stored, key=lambda r: r["id"])
    assert GoldenRecord.objects.filter(db_connection=connection).count() == 12


def test_records_of_one_request_are_created_in_the_order_given(api, connection):
    response = api.post(API, payload(connection, 40), format="json")

    given = [record["id"] for record in response.json()]
    by_creation = GoldenRecord.objects.filter(db_connection=connection).order_by("created_at")
    assert list(by_creation.values_list("id", flat=True)) == given
