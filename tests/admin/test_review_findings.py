"""A connection URI saved in the admin must not break the REST API (found in review)."""

from http import HTTPStatus

from tests.admin.test_other_pages import connection_form


def test_an_unparseable_uri_is_refused_and_the_api_keeps_working(superuser_client, connection, api):
    response = superuser_client.post(
        f"/admin/finetunings/databaseconnection/{connection.pk}/change/",
        connection_form(connection, connection_uri="postgresql://[db.internal/shop"),
    )

    assert response.status_code == HTTPStatus.OK  # the form is shown again with the error
    assert "connection_uri" in response.context["adminform"].form.errors
    assert api.get("/api/v1/database-connections").status_code == HTTPStatus.OK
