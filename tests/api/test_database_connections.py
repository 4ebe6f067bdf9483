from http import HTTPStatus

import pytest
from django.db import connection as db

from finetunings import errors, services
from finetunings.errors import ErrorCode
from finetunings.models import DatabaseConnection, FinetuningStatus, GoldenRecord
from finetunings.validation import URI_BAD_HOST, URI_INVALID
from tests.helpers.api import NUL_KEY_METADATA, assert_400_naming
from tests.helpers.uri_forms import INVALID_URI_FORMS, VALID_URI_FORMS

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
    assert body["masked_connection_uri"] == "postgresql://***@db.internal:5432/shop"
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
        {"schema": "CREATE TABLE u (id int);", "connection_uri": "postgresql://a:b@h/d"},
        format="json",
    )
    assert updated.status_code == HTTPStatus.OK
    assert updated.json()["schema"] == "CREATE TABLE u (id int);"
    assert DatabaseConnection.objects.get(pk=connection_id).connection_uri == "postgresql://a:b@h/d"
    assert api.get(f"/api/v1/database-connections/{connection_id}").json()["alias"] == "shop"


def test_unknown_connection_is_404(api, db):
    response = api.get("/api/v1/database-connections/ffffffffffffffffffffffff")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "No database connection with id 'ffffffffffffffffffffffff'.",
        "code": ErrorCode.NOT_FOUND,
    }


def test_delete_is_409_while_a_job_is_active(api, connection, golden_records, make_finetuning):
    make_finetuning(connection, status=FinetuningStatus.RUNNING)

    response = api.delete(f"/api/v1/database-connections/{connection.pk}")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == ErrorCode.CONNECTION_IN_USE
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


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), VALID_URI_FORMS)
def test_no_secret_of_any_uri_form_appears_in_responses_or_logs(
    api, caplog, dialect, uri, masked, secrets
):
    caplog.set_level("DEBUG")
    created = create(api, dialect=dialect, connection_uri=uri)
    connection_id = created.json()["id"]
    listed = api.get("/api/v1/database-connections")
    retrieved = api.get(f"/api/v1/database-connections/{connection_id}")

    assert created.status_code == HTTPStatus.CREATED
    assert retrieved.json()["masked_connection_uri"] == masked
    assert listed.json()["results"][0]["masked_connection_uri"] == masked
    for secret in secrets:
        for response in (created, listed, retrieved):
            assert secret not in response.text
        assert secret not in caplog.text


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), INVALID_URI_FORMS)
def test_a_refused_uri_is_400_without_quoting_its_secrets(
    api, caplog, dialect, uri, masked, secrets
):
    caplog.set_level("DEBUG")
    response = create(api, dialect=dialect, connection_uri=uri)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "connection_uri" in response.json()["errors"]
    for secret in secrets:
        assert secret not in response.text
        assert secret not in caplog.text
    assert not DatabaseConnection.objects.exists()


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), INVALID_URI_FORMS)
def test_a_stored_uri_that_no_longer_parses_shows_at_most_its_scheme(
    api, make_connection, dialect, uri, masked, secrets
):
    connection = make_connection()
    connection.connection_uri = uri  # stored before the service refused such URIs
    connection.save()

    response = api.get(f"/api/v1/database-connections/{connection.pk}")

    assert response.json()["masked_connection_uri"] == masked
    for secret in secrets:
        assert secret not in response.text


# --- Connection URIs: forms, schemes, and PUT without the secret ----------------------------


def test_a_libpq_multi_host_uri_is_accepted(api):
    uri = "postgresql://reader:pw@h1.internal:5432,h2.internal:5433/shop?target_session_attrs=any"
    response = create(api, connection_uri=uri)

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["masked_connection_uri"] == (
        "postgresql://***@h1.internal:5432,h2.internal:5433/shop?target_session_attrs=***"
    )
    assert DatabaseConnection.objects.get().connection_uri == uri


def test_a_host_containing_a_space_is_400(api):
    response = create(api, connection_uri="postgresql://reader:pw@db internal:5432/shop")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "space" in response.json()["errors"]["connection_uri"][0]
    assert not DatabaseConnection.objects.exists()


def test_a_host_that_is_not_a_host_name_is_400(api):
    response = create(api, connection_uri="postgresql://reader:pw@db!internal:5432/shop")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["connection_uri"] == [URI_BAD_HOST]


def test_a_uri_whose_scheme_does_not_fit_the_dialect_is_400_naming_the_schemes_that_do(api):
    response = create(api, dialect="postgresql", connection_uri="mysql://app:pw@mysql.internal/crm")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    (message,) = response.json()["errors"]["connection_uri"]
    assert "'mysql'" in message
    assert "postgresql://" in message
    assert "postgres://" in message
    assert not DatabaseConnection.objects.exists()


def test_a_driver_in_the_scheme_fits_its_dialect(api):
    response = create(api, connection_uri="postgresql+psycopg://app:pw@db.internal/shop")

    assert response.status_code == HTTPStatus.CREATED


def test_changing_the_dialect_alone_checks_the_stored_uris_scheme(api, connection):
    response = api.patch(
        f"/api/v1/database-connections/{connection.pk}", {"dialect": "mysql"}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "mysql://" in response.json()["errors"]["connection_uri"][0]
    assert DatabaseConnection.objects.get(pk=connection.pk).dialect == "postgresql"


def test_changing_dialect_and_uri_together_is_accepted(api, connection):
    response = api.patch(
        f"/api/v1/database-connections/{connection.pk}",
        {"dialect": "mysql", "connection_uri": "mysql://app:pw@mysql.internal/crm"},
        format="json",
    )

    assert response.status_code == HTTPStatus.OK
    stored = DatabaseConnection.objects.get(pk=connection.pk)
    assert (stored.dialect, stored.connection_uri) == ("mysql", "mysql://app:pw@mysql.internal/crm")


def test_a_get_then_put_round_trip_keeps_the_stored_uri(api, connection):
    url = f"/api/v1/database-connections/{connection.pk}"
    body = api.get(url).json()
    body["schema"] = "CREATE TABLE customers (id int);"

    response = api.put(url, body, format="json")

    assert response.status_code == HTTPStatus.OK
    stored = DatabaseConnection.objects.get(pk=connection.pk)
    assert stored.schema == "CREATE TABLE customers (id int);"
    assert stored.connection_uri == "postgresql://reader:s3cret@db.internal:5432/shop"


def test_put_with_a_new_uri_replaces_it(api, connection):
    url = f"/api/v1/database-connections/{connection.pk}"
    body = {"alias": "shop", "dialect": "postgresql", "connection_uri": "postgres://w:n@db2/shop"}

    response = api.put(url, body, format="json")

    assert response.status_code == HTTPStatus.OK
    assert (
        DatabaseConnection.objects.get(pk=connection.pk).connection_uri == "postgres://w:n@db2/shop"
    )


def test_creating_a_connection_still_requires_its_uri(api, db):
    response = api.post(
        "/api/v1/database-connections", {"alias": "shop", "dialect": "postgresql"}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "connection_uri" in response.json()["errors"]
    assert not DatabaseConnection.objects.exists()


def test_editing_a_connection_deleted_meanwhile_is_refused(connection):
    stale = DatabaseConnection.objects.get(pk=connection.pk)
    services.database_connection_delete(connection=connection)

    with pytest.raises(errors.DeletedMeanwhile):
        services.database_connection_update(connection=stale, alias="revived")

    assert DatabaseConnection.objects.get(pk=connection.pk).deleted_at is not None
    assert DatabaseConnection.objects.get(pk=connection.pk).alias != "revived"


def test_an_empty_dialect_filter_is_a_400(api, connection):
    response = api.get("/api/v1/database-connections?dialect=")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "dialect" in response.json()["errors"]


def test_connection_metadata_key_with_nul_is_400(api, db):
    response = create(api, metadata=NUL_KEY_METADATA)

    assert_400_naming(response, "metadata")
    assert not DatabaseConnection.objects.exists()


def test_connection_uri_that_urlsplit_rejects_is_400(api, db):
    response = create(api, connection_uri="postgresql://[db/shop")

    assert_400_naming(response, "connection_uri")


def test_password_in_the_uri_query_string_is_masked(api, db):
    response = create(
        api, connection_uri="postgresql://reader@db.internal:5432/shop?password=s3cret-pw"
    )

    assert response.status_code == HTTPStatus.CREATED
    assert "s3cret-pw" not in response.content.decode()
