"""Requests found in review that answer 500 (or break the documented contract).

Each test is what a client would send and what it should get back: a 4xx in the one error
shape, never a 500. Several of them only answer 500 on PostgreSQL (which rejects NUL
characters in text and jsonb), so run them on both databases.
"""

import base64
from http import HTTPStatus

import pytest

from finetunings.errors import ErrorCode
from finetunings.models import DatabaseConnection, Finetuning, GoldenRecord

NUL_KEY_METADATA = {"team\u0000": "growth"}


def assert_400_naming(response, field):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    body = response.json()
    assert body["code"] == ErrorCode.VALIDATION
    assert any(name == field or name.startswith(f"{field}.") for name in body["errors"]), body


# --- NUL characters: PostgreSQL cannot store them ------------------------------------------


def test_connection_metadata_key_with_nul_is_400(api, db):
    response = api.post(
        "/api/v1/database-connections",
        {
            "alias": "shop",
            "dialect": "postgresql",
            "connection_uri": "postgresql://reader:pw@db:5432/shop",
            "metadata": NUL_KEY_METADATA,
        },
        format="json",
    )

    assert_400_naming(response, "metadata")
    assert not DatabaseConnection.objects.exists()


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


def test_finetuning_metadata_key_with_nul_is_400(api, connection, golden_records):
    response = api.post(
        "/api/v1/finetunings",
        {"db_connection_id": connection.pk, "metadata": NUL_KEY_METADATA},
        format="json",
    )

    assert_400_naming(response, "metadata")
    assert not Finetuning.objects.exists()


def test_patch_finetuning_metadata_key_with_nul_is_400(api, finetuning):
    response = api.patch(
        f"/api/v1/finetunings/{finetuning.pk}", {"metadata": NUL_KEY_METADATA}, format="json"
    )

    assert_400_naming(response, "metadata")
    finetuning.refresh_from_db()
    assert finetuning.metadata is None


def test_cancel_metadata_key_with_nul_is_400_and_job_unchanged(api, finetuning):
    response = api.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        {"metadata": NUL_KEY_METADATA},
        format="json",
    )

    assert_400_naming(response, "metadata")
    finetuning.refresh_from_db()
    assert finetuning.status == "queued"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/database-connections/a%00b",
        "/api/v1/golden-records/a%00b",
        "/api/v1/finetunings/a%00b",
        "/api/v1/finetunings/a%00b/events",
    ],
)
def test_id_with_nul_in_the_path_is_404(api, db, path):
    response = api.get(path)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


def test_cancel_id_with_nul_in_the_path_is_404(api, db):
    response = api.post("/api/v1/finetunings/a%00b/cancel", format="json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


# --- Other inputs that answer 500 ---------------------------------------------------------


def test_connection_uri_that_urlsplit_rejects_is_400(api, db):
    response = api.post(
        "/api/v1/database-connections",
        {"alias": "shop", "dialect": "postgresql", "connection_uri": "postgresql://[db/shop"},
        format="json",
    )

    assert_400_naming(response, "connection_uri")


@pytest.mark.parametrize("parameter", ["n_epochs", "batch_size", "learning_rate_multiplier"])
def test_model_parameter_too_large_for_a_float_is_400(api, connection, golden_records, parameter):
    response = api.generic(
        "POST",
        "/api/v1/finetunings",
        f'{{"db_connection_id": "{connection.pk}", '
        f'"base_llm": {{"model_parameters": {{"{parameter}": {"9" * 400}}}}}}}',
        content_type="application/json",
    )

    assert_400_naming(response, f"base_llm.model_parameters.{parameter}")
    assert not Finetuning.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/finetunings", "/api/v1/golden-records", "/api/v1/database-connections"]
)
@pytest.mark.parametrize("position", ["garbage", "\u0000"])
def test_cursor_with_a_bad_position_is_400(api, db, path, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()

    response = api.get(path, {"cursor": cursor})

    assert_400_naming(response, "cursor")


def test_events_cursor_with_a_bad_position_is_400(api, finetuning):
    cursor = base64.b64encode(b"p=garbage").decode()

    response = api.get(f"/api/v1/finetunings/{finetuning.pk}/events", {"cursor": cursor})

    assert_400_naming(response, "cursor")


@pytest.mark.parametrize("parameter", ["created_after", "created_before"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: OverflowError (SQLite)
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC: OverflowError (SQLite)
        "2020-01-01T00:00:00+18:00",  # PostgreSQL: time zone displacement out of range
    ],
)
def test_created_at_filter_out_of_range_is_400_or_200_never_500(api, db, parameter, value):
    response = api.get("/api/v1/finetunings", {parameter: value})

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}, response.content[:300]
    if response.status_code == HTTPStatus.BAD_REQUEST:
        assert parameter in response.json()["errors"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_golden_record_update_with_a_json_array_is_400(api, connection, golden_records, method):
    record = golden_records[0]
    body = [{"db_connection_id": connection.pk, "question": "Changed?", "sql": "SELECT 1"}]

    response = getattr(api, method)(f"/api/v1/golden-records/{record.pk}", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.VALIDATION
    record.refresh_from_db()
    assert record.question != "Changed?"


def test_deeply_nested_json_is_400_parse_error(api, db):
    body = '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = api.generic("POST", "/api/v1/finetunings", body, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.PARSE_ERROR


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


# --- Contract: the connection URI's secret is never returned ---------------------------------


def test_password_in_the_uri_query_string_is_masked(api, db):
    response = api.post(
        "/api/v1/database-connections",
        {
            "alias": "shop",
            "dialect": "postgresql",
            "connection_uri": "postgresql://reader@db.internal:5432/shop?password=s3cret-pw",
        },
        format="json",
    )

    assert response.status_code == HTTPStatus.CREATED
    assert "s3cret-pw" not in response.content.decode()


# --- Contract: 404 for an unknown job, whatever the body --------------------------------


def test_patch_of_unknown_job_is_404_even_with_a_bad_body(api, db):
    response = api.patch(
        "/api/v1/finetunings/000000000000000000000000", {"alias": 5}, format="json"
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


# --- The schema documents what the API answers -------------------------------------------


@pytest.fixture
def schema(anonymous_api, db):
    response = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def test_events_are_documented_as_a_paginated_list(schema, api, finetuning):
    operation = schema["paths"]["/api/v1/finetunings/{id}/events"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    documented = schema["components"]["schemas"][ref.split("/")[-1]]

    body = api.get(f"/api/v1/finetunings/{finetuning.pk}/events").json()

    assert set(body) == {"next", "previous", "results"}
    assert "results" in documented["properties"], documented


@pytest.mark.parametrize(
    "path", ["/api/v1/finetunings", "/api/v1/golden-records", "/api/v1/database-connections"]
)
def test_lists_document_their_400_for_bad_parameters(schema, api, path):
    assert api.get(path, {"limit": 0}).status_code == HTTPStatus.BAD_REQUEST

    assert "400" in schema["paths"][path]["get"]["responses"]


def test_parse_error_matches_the_documented_400(schema, api, db):
    documented = schema["components"]["schemas"]["ValidationError"]

    response = api.generic(
        "POST", "/api/v1/finetunings", '{"db_connection_id": ', content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    missing = set(documented["required"]) - set(response.json())
    assert not missing, f"the documented 400 requires {missing}; got {response.json()}"
