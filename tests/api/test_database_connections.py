from http import HTTPStatus

import pytest
from django.db import connection as db

from finetunings.errors import CODE_CONNECTION_IN_USE
from finetunings.models import DatabaseConnection, FinetuningStatus, GoldenRecord
from finetunings.validation import URI_INVALID

URI = "postgresql://reader:s3cret-pw@db.internal:5432/shop"


def create(api, **fields):
    body = {"alias": "shop", "dialect": "postgresql", "connection_uri": URI, **fields}
    return api.post("/api/v1/database-connections", body, format="json")


def test_create_returns_201_and_never_the_uri(api):
    response = create(api, schema="CREATE TABLE t (id int);", metadata={"team": "growth"})

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["alias"] == "shop"
    assert body["schema"] == "CREATE TABLE t (id int);"
    assert body["metadata"] == {"team": "growth"}
    assert "connection_uri" not in body
    assert body["masked_connection_uri"] == "postgresql://reader:***@db.internal:5432/shop"
    assert "s3cret-pw" not in response.content.decode()


def test_uri_is_encrypted_at_rest(api):
    connection_id = create(api).json()["id"]

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT connection_uri_encrypted FROM finetunings_databaseconnection WHERE id = %s",
            [connection_id],
        )
        (stored,) = cursor.fetchone()
    assert "s3cret-pw" not in stored
    assert "db.internal" not in stored
    assert DatabaseConnection.objects.get(pk=connection_id).connection_uri == URI


def test_alias_is_unique(api):
    create(api)
    response = create(api)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "alias" in response.json()["errors"]
    assert DatabaseConnection.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dialect": "cobol"}, "dialect"),
        ({"connection_uri": "not a uri"}, "connection_uri"),
        ({"alias": ""}, "alias"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ],
)
def test_bad_fields_are_400(api, fields, field):
    response = create(api, **fields)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]
    assert not DatabaseConnection.objects.exists()


def test_a_mistyped_uri_is_400_without_quoting_its_password(api):
    # An unencoded "#" ends the host part early; urlsplit's error would quote "n3w".
    response = create(api, connection_uri="postgresql://reader:n3w#pass@db.internal/shop")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["connection_uri"] == [URI_INVALID]
    assert "n3w" not in response.text


def test_list_retrieve_update(api):
    connection_id = create(api).json()["id"]

    listed = api.get("/api/v1/database-connections").json()
    assert [item["id"] for item in listed["results"]] == [connection_id]
    updated = api.patch(
        f"/api/v1/database-connections/{connection_id}",
        {"schema": "CREATE TABLE u (id int);", "connection_uri": "mysql://a:b@h/d"},
        format="json",
    )
    assert updated.status_code == HTTPStatus.OK
    assert updated.json()["schema"] == "CREATE TABLE u (id int);"
    assert DatabaseConnection.objects.get(pk=connection_id).connection_uri == "mysql://a:b@h/d"
    assert api.get(f"/api/v1/database-connections/{connection_id}").json()["alias"] == "shop"


def test_unknown_connection_is_404(api, db):
    response = api.get("/api/v1/database-connections/ffffffffffffffffffffffff")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "No database connection with id 'ffffffffffffffffffffffff'.",
        "code": "not_found",
    }


def test_delete_is_409_while_a_job_is_active(api, connection, golden_records, make_finetuning):
    make_finetuning(connection, status=FinetuningStatus.RUNNING)

    response = api.delete(f"/api/v1/database-connections/{connection.pk}")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == CODE_CONNECTION_IN_USE
    assert GoldenRecord.objects.filter(db_connection=connection).count() == 12
    assert DatabaseConnection.objects.alive().filter(pk=connection.pk).exists()


def test_delete_keeps_finished_jobs_and_frees_the_alias(
    api, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)

    assert api.delete(f"/api/v1/database-connections/{connection.pk}").status_code == (
        HTTPStatus.NO_CONTENT
    )

    assert api.get(f"/api/v1/database-connections/{connection.pk}").status_code == (
        HTTPStatus.NOT_FOUND
    )
    kept = api.get(f"/api/v1/finetunings/{job.pk}").json()
    assert kept["db_connection_id"] == connection.pk
    assert kept["golden_records"] == job.golden_records
    assert not GoldenRecord.objects.filter(db_connection=connection).exists()
    assert DatabaseConnection.objects.get(pk=connection.pk).connection_uri == ""
    assert create(api).status_code == HTTPStatus.CREATED  # the alias is free again


def test_an_empty_dialect_filter_is_a_400(api, connection):
    response = api.get("/api/v1/database-connections?dialect=")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "dialect" in response.json()["errors"]
