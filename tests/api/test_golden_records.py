import io
from http import HTTPStatus

import pytest

from finetunings import errors, services, training_data, validation
from finetunings.errors import ErrorCode
from finetunings.models import Finetuning, GoldenRecord
from tests.helpers.api import NUL_KEY_METADATA, assert_400_naming


def record(connection, **fields):
    return {
        "db_connection_id": connection.pk,
        "question": "How many orders?",
        "sql": "SELECT count(*) FROM orders",
        **fields,
    }


def test_create_one(api, connection):
    response = api.post("/api/v1/golden-records", record(connection), format="json")

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["question"] == "How many orders?"
    assert body["db_connection_id"] == connection.pk
    assert len(body["id"]) == 24


def test_bulk_create_creates_all(api, connection):
    body = [record(connection, question=f"q{i}") for i in range(25)]

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.CREATED
    assert len(response.json()) == 25
    assert GoldenRecord.objects.count() == 25


def test_bulk_create_is_all_or_nothing(api, connection):
    body = [record(connection, question=f"q{i}") for i in range(5)]
    body[3]["sql"] = "SELECT FROM WHERE"

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()["errors"]) == ["3.sql"]
    assert not GoldenRecord.objects.exists()


def test_empty_bulk_is_400(api, connection):
    response = api.post("/api/v1/golden-records", [], format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgresql", "SELECT * FROM orders WHERE"),
        ("postgresql", "SELECT TOP 5 * FROM orders"),
        ("mysql", "SELEC id FROM orders"),
        ("postgresql", "hello world"),
        ("postgresql", "SELECT 1; SELECT 2"),
    ],
)
def test_sql_must_parse_in_the_connections_dialect(api, make_connection, dialect, sql):
    connection = make_connection(dialect=dialect)

    response = api.post("/api/v1/golden-records", record(connection, sql=sql), format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    message = response.json()["errors"]["sql"][0]
    assert dialect in message or "statement" in message
    assert not GoldenRecord.objects.exists()


def test_dialect_specific_sql_is_accepted_where_it_belongs(api, make_connection):
    connection = make_connection(dialect="mssql")

    response = api.post(
        "/api/v1/golden-records",
        record(connection, sql="SELECT TOP 5 * FROM orders"),
        format="json",
    )

    assert response.status_code == HTTPStatus.CREATED


def test_unknown_connection_is_400(api, db):
    body = {"db_connection_id": "nope", "question": "q", "sql": "SELECT 1"}

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "db_connection_id" in response.json()["errors"]


def test_list_filters_by_connection_and_question(api, make_connection, make_golden_records):
    first, second = make_connection(), make_connection()
    make_golden_records(first, count=3)
    make_golden_records(second, count=2)
    api.post("/api/v1/golden-records", record(first, question="Top customers?"), format="json")

    by_connection = api.get("/api/v1/golden-records", {"db_connection_id": second.pk}).json()
    by_text = api.get("/api/v1/golden-records", {"search": "top CUSTOMERS"}).json()

    assert len(by_connection["results"]) == 2
    assert [r["question"] for r in by_text["results"]] == ["Top customers?"]


def test_update_rechecks_sql_and_delete(api, connection):
    created = api.post("/api/v1/golden-records", record(connection), format="json").json()
    url = f"/api/v1/golden-records/{created['id']}"

    bad = api.patch(url, {"sql": "SELECT * FROM"}, format="json")
    good = api.patch(url, {"sql": "SELECT id FROM orders"}, format="json")

    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert good.status_code == HTTPStatus.OK
    assert GoldenRecord.objects.get().sql == "SELECT id FROM orders"
    assert api.delete(url).status_code == HTTPStatus.NO_CONTENT
    assert api.get(url).status_code == HTTPStatus.NOT_FOUND


def test_a_golden_record_cannot_move_to_another_connection(
    api, connection, make_connection, finetuning, golden_records
):
    # A queued job trains on this record: moving it would take it from under the job.
    other = make_connection(alias="warehouse")
    moved = golden_records[0]

    response = api.patch(
        f"/api/v1/golden-records/{moved.pk}", {"db_connection_id": other.pk}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == ErrorCode.GOLDEN_RECORD_CONNECTION_FIXED
    assert body["errors"]["db_connection_id"] == [errors.GOLDEN_RECORD_CONNECTION_FIXED_MESSAGE]
    assert GoldenRecord.objects.get(pk=moved.pk).db_connection_id == connection.pk
    summary = training_data.write_training_file(
        finetuning=Finetuning.objects.get(pk=finetuning.pk), out=io.BytesIO()
    )
    assert summary.examples == len(golden_records)


def test_a_put_round_trip_naming_the_same_connection_is_accepted(api, golden_records):
    url = f"/api/v1/golden-records/{golden_records[0].pk}"
    body = api.get(url).json()
    body["question"] = "How many orders are there at all?"

    response = api.put(url, body, format="json")

    assert response.status_code == HTTPStatus.OK
    assert GoldenRecord.objects.get(pk=golden_records[0].pk).question == body["question"]


def test_editing_a_record_deleted_meanwhile_is_refused_and_does_not_bring_it_back(
    golden_records,
):
    stale = GoldenRecord.objects.get(pk=golden_records[0].pk)  # read by the edit ...
    services.golden_record_delete(golden_record=golden_records[0])  # ... deleted by another

    with pytest.raises(errors.DeletedMeanwhile):
        services.golden_record_update(golden_record=stale, question="Still there?")

    assert not GoldenRecord.objects.filter(pk=stale.pk).exists()


def test_the_audits_slow_bulk_body_is_refused_before_any_sql_is_parsed(api, connection):
    # 80 records of SELECT 1+1+... (40,006 characters each, 3.1 MiB) once held a web
    # process for over 30 seconds.
    sql = "SELECT 1" + "+1" * 19_999
    body = [
        {"db_connection_id": connection.pk, "question": f"Q{i}?", "sql": sql} for i in range(80)
    ]

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.VALIDATION
    assert response.json()["errors"]["0.sql"] == [
        f"Ensure this field has no more than {validation.SQL_MAX_LENGTH} characters."
    ]
    assert not GoldenRecord.objects.exists()


def test_a_bulk_create_with_too_much_sql_in_total_is_refused_before_parsing(api, connection):
    sql = "SELECT 1" + "+1" * ((validation.SQL_MAX_LENGTH - 8) // 2)
    count = validation.SQL_MAX_TOTAL_LENGTH // len(sql) + 1
    body = [
        {"db_connection_id": connection.pk, "question": f"Q{i}?", "sql": sql} for i in range(count)
    ]

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.TOO_MUCH_SQL
    assert str(validation.SQL_MAX_TOTAL_LENGTH) in response.json()["detail"].replace(",", "")
    assert not GoldenRecord.objects.exists()


def test_a_bulk_create_within_the_sql_limits_is_accepted(api, connection):
    per_record = validation.SQL_MAX_TOTAL_LENGTH // 20
    sql = "SELECT 1" + " " * (per_record - 8)
    body = [
        {"db_connection_id": connection.pk, "question": f"Q{i}?", "sql": sql} for i in range(20)
    ]

    response = api.post("/api/v1/golden-records", body, format="json")

    assert response.status_code == HTTPStatus.CREATED
    assert GoldenRecord.objects.count() == 20


def test_sql_that_does_not_parse_is_explained_in_plain_words(api, connection):
    response = api.post(
        "/api/v1/golden-records",
        {"db_connection_id": connection.pk, "question": "Twice?", "sql": "SELECT 2 *"},
        format="json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["sql"] == [
        "The SQL does not parse as postgresql at line 1, column 10: something is missing after '*'."
    ]


def test_golden_record_metadata_key_with_nul_is_400(api, connection):
    response = api.post(
        "/api/v1/golden-records",
        {
            "db_connection_id": connection.pk,
            "question": "How many orders?",
            "sql": "SELECT count(*) FROM orders",
            "metadata": NUL_KEY_METADATA,
        },
        format="json",
    )

    assert_400_naming(response, "metadata")
    assert not GoldenRecord.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_golden_record_update_with_a_json_array_is_400(api, connection, golden_records, method):
    record = golden_records[0]
    body = [{"db_connection_id": connection.pk, "question": "Changed?", "sql": "SELECT 1"}]

    response = getattr(api, method)(f"/api/v1/golden-records/{record.pk}", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.VALIDATION
    record.refresh_from_db()
    assert record.question != "Changed?"


@pytest.mark.parametrize("sql", ["(" * 5000, "SELECT " + "(" * 3000 + "1" + ")" * 3000])
def test_sql_nested_too_deeply_is_400_naming_sql(api, connection, sql):
    response = api.post(
        "/api/v1/golden-records",
        {"db_connection_id": connection.pk, "question": "Deep?", "sql": sql},
        format="json",
    )

    assert_400_naming(response, "sql")


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("clickhouse", "VALUES ()"),  # IndexError inside sqlglot
        ("bigquery", "PIVOT B' 1.5e B'"),  # AttributeError inside sqlglot
        ("mssql", "SET ARRAY [] CONNECT BY"),  # ValueError inside sqlglot
    ],
)
def test_sql_that_crashes_the_parser_is_400_naming_sql(api, make_connection, dialect, sql):
    connection = make_connection(dialect=dialect)

    response = api.post(
        "/api/v1/golden-records",
        {"db_connection_id": connection.pk, "question": "Odd?", "sql": sql},
        format="json",
    )

    assert_400_naming(response, "sql")
    assert not GoldenRecord.objects.exists()
