"""A database that cannot be reached (a restart, a dropped connection) is a 503, never a 500."""

import contextlib
from http import HTTPStatus

import pytest
from django.db import OperationalError, connections
from django.db import connection as db_connection
from django.test import Client

from finetunings.errors import ErrorCode
from finetunings.models import DatabaseConnection

REFUSED = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'


@contextlib.contextmanager
def database_down():
    """Every query of this thread fails as it does while the database restarts."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError(REFUSED)

    with db_connection.execute_wrapper(refuse):
        yield


def test_an_api_request_while_the_database_is_down_is_503_with_retry_after(api, connection):
    with database_down():
        response = api.get("/api/v1/database-connections")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == ErrorCode.DATABASE_UNAVAILABLE
    assert "database" in response.json()["detail"]
    assert REFUSED not in response.json()["detail"]  # no server address in an answer
    assert int(response["Retry-After"]) > 0


def test_a_write_while_the_database_is_down_is_503_and_stores_nothing(api, connection):
    with database_down():
        response = api.post(
            "/api/v1/database-connections",
            {
                "alias": "other",
                "dialect": "postgresql",
                "connection_uri": "postgresql://u:p@h/db",
            },
            format="json",
        )

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == ErrorCode.DATABASE_UNAVAILABLE
    assert not DatabaseConnection.objects.filter(alias="other").exists()


def test_an_admin_page_while_the_database_is_down_is_a_plain_503_page(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    with database_down():
        response = client.get("/admin/finetunings/finetuning/")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert int(response["Retry-After"]) > 0
    assert b"database" in response.content.lower()


def _terminate_own_backend_on(query_number: int):
    """An execute wrapper that really kills this connection's server process mid-request."""
    seen = {"queries": 0}
    pid = db_connection.cursor().connection.info.backend_pid
    killer = db_connection.get_new_connection(db_connection.get_connection_params())
    killer.autocommit = True

    def kill(execute, sql, params, many, context):
        seen["queries"] += 1
        if seen["queries"] == query_number:
            killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, params, many, context)

    return kill, killer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query_number", [1, 2])
def test_a_backend_killed_mid_request_is_503_and_the_next_request_works(
    api, connection, query_number
):
    kill, killer = _terminate_own_backend_on(query_number)
    try:
        with db_connection.execute_wrapper(kill):
            response = api.get("/api/v1/database-connections")
    finally:
        killer.close()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == ErrorCode.DATABASE_UNAVAILABLE
    assert response["Retry-After"]
    # What Django does at the end of every request (the test client leaves it out): the
    # broken connection is dropped, and the next request opens a new one.
    db_connection.close_if_unusable_or_obsolete()
    again = api.get("/api/v1/database-connections")
    assert again.status_code == HTTPStatus.OK
    assert [item["alias"] for item in again.json()["results"]] == ["shop"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_refusing_connections_is_503(api, connection):
    settings_dict = connections["default"].settings_dict
    port = settings_dict["PORT"]
    db_connection.close()
    settings_dict["PORT"] = "1"  # nothing listens there: "Connection refused"
    try:
        response = api.get("/api/v1/finetunings")
    finally:
        settings_dict["PORT"] = port
        db_connection.close()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == ErrorCode.DATABASE_UNAVAILABLE
    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.OK
