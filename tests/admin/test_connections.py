"""Database connections in the admin: their URIs stay secret and the API keeps working."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils.html import escape

from finetunings import errors, selectors
from finetunings.admin.connections import CONNECTION_ALIAS_TAKEN, DatabaseConnectionForm
from finetunings.models import (
    DatabaseConnection,
    Finetuning,
    FinetuningStatus,
    GoldenRecord,
)
from tests.helpers.admin import (
    SECRET,
    change_url,
    changelist_url,
    connection_form,
    logged_in,
    messages_of,
)
from tests.helpers.uri_forms import INVALID_URI_FORMS, VALID_URI_FORMS

# --- database connections ----------------------------------------------------------------


def test_the_connection_uri_is_never_shown_in_plain_text(superuser_client, connection):
    for url in (changelist_url("databaseconnection"), change_url(connection, "databaseconnection")):
        page = superuser_client.get(url)
        assert page.status_code == HTTPStatus.OK
        assert "postgresql://***@db.internal:5432/shop" in page.text
        assert SECRET not in page.text


@pytest.mark.parametrize(
    ("dialect", "uri", "masked", "secrets"), VALID_URI_FORMS + INVALID_URI_FORMS
)
def test_no_secret_of_any_uri_form_appears_on_the_admin_pages(
    superuser_client, connection, dialect, uri, masked, secrets
):
    connection.connection_uri = uri
    connection.save()

    for url in (changelist_url("databaseconnection"), change_url(connection, "databaseconnection")):
        page = superuser_client.get(url)
        assert page.status_code == HTTPStatus.OK
        assert escape(masked) in page.text
        for secret in secrets:
            assert secret not in page.text


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), INVALID_URI_FORMS)
def test_a_refused_uri_is_not_quoted_on_the_admin_page(
    superuser_client, connection, dialect, uri, masked, secrets
):
    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, dialect=dialect, connection_uri=uri),
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["connection_uri"]
    for secret in secrets:
        assert secret not in response.text
    assert DatabaseConnection.objects.get(pk=connection.pk).connection_uri == (
        "postgresql://reader:s3cret@db.internal:5432/shop"
    )


def test_a_blank_uri_keeps_the_stored_one(superuser_client, connection):
    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, schema="CREATE TABLE customers (id int);"),
    )

    assert response.status_code == HTTPStatus.FOUND
    connection.refresh_from_db()
    assert connection.schema == "CREATE TABLE customers (id int);"
    assert connection.connection_uri == "postgresql://reader:s3cret@db.internal:5432/shop"


def test_a_new_uri_replaces_the_stored_one(superuser_client, connection):
    new_uri = "postgresql://writer:n3w-pass@db2.internal:5432/shop"

    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, connection_uri=new_uri),
    )

    assert response.status_code == HTTPStatus.FOUND
    connection.refresh_from_db()
    assert connection.connection_uri == new_uri
    assert "n3w-pass" not in connection.connection_uri_encrypted


def test_changing_the_dialect_to_one_the_stored_uri_does_not_fit_is_refused(
    superuser_client, connection
):
    response = superuser_client.post(
        change_url(connection, "databaseconnection"), connection_form(connection, dialect="mysql")
    )

    assert response.status_code == HTTPStatus.OK
    (message,) = response.context["adminform"].form.errors["connection_uri"]
    assert "mysql://" in message
    assert SECRET not in response.text
    assert DatabaseConnection.objects.get(pk=connection.pk).dialect == "postgresql"


def test_adding_a_connection_stores_its_uri_encrypted(superuser_client, db):
    uri = "mysql://app:hunter22@mysql.internal/crm"

    response = superuser_client.post(
        reverse("admin:finetunings_databaseconnection_add"),
        {"alias": "crm", "dialect": "mysql", "connection_uri": uri, "schema": "", "metadata": ""},
    )

    assert response.status_code == HTTPStatus.FOUND
    created = DatabaseConnection.objects.get(alias="crm")
    assert created.connection_uri == uri
    assert "hunter22" not in created.connection_uri_encrypted


def test_adding_a_connection_needs_a_uri_and_a_free_alias(superuser_client, connection):
    response = superuser_client.post(
        reverse("admin:finetunings_databaseconnection_add"),
        {"alias": connection.alias, "dialect": "mysql", "connection_uri": "", "metadata": ""},
    )

    assert response.status_code == HTTPStatus.OK
    errors = response.context["adminform"].form.errors
    assert errors["alias"] == [CONNECTION_ALIAS_TAKEN]
    assert errors["connection_uri"] == ["This field is required."]
    assert DatabaseConnection.objects.count() == 1


def test_a_connection_with_an_active_job_cannot_be_deleted(
    superuser_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, alias="busy-job")
    url = reverse("admin:finetunings_databaseconnection_delete", args=[connection.pk])

    page = superuser_client.get(url)
    response = superuser_client.post(url, {"post": "yes"})

    assert f"Active fine-tuning job: {job}" in page.text
    assert response.status_code == HTTPStatus.OK
    assert "Cannot delete database connection" in response.text
    connection.refresh_from_db()
    assert connection.deleted_at is None


def test_deleting_a_connection_keeps_its_finished_jobs(
    superuser_client, connection, golden_records, make_finetuning
):
    make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)
    url = reverse("admin:finetunings_databaseconnection_delete", args=[connection.pk])

    response = superuser_client.post(url, {"post": "yes"})

    assert response.status_code == HTTPStatus.FOUND
    connection.refresh_from_db()
    assert connection.deleted_at is not None
    assert connection.finetunings.count() == 1
    assert not GoldenRecord.objects.filter(db_connection=connection).exists()
    listed = superuser_client.get(changelist_url("databaseconnection"))
    assert connection.alias not in {c.alias for c in listed.context["cl"].result_list}


def test_a_job_started_while_its_connection_is_deleted_is_an_error_message(
    superuser_client, connection, golden_records, make_finetuning, monkeypatch
):
    # The job appears after the delete page checked for active jobs: the service refuses.
    make_finetuning(connection, alias="late-job")
    monkeypatch.setattr(
        selectors, "finetuning_active_of_connections", lambda **_: Finetuning.objects.none()
    )
    url = reverse("admin:finetunings_databaseconnection_delete", args=[connection.pk])

    response = superuser_client.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert messages_of(response) == [errors.ConnectionInUse.default_message]
    connection.refresh_from_db()
    assert connection.deleted_at is None


def test_an_alias_taken_while_the_form_is_saved_is_an_error_message(
    superuser_client, connection, make_connection, monkeypatch
):
    # Another connection takes the alias after the form checked it: the service refuses.
    make_connection(alias="taken")
    monkeypatch.setattr(
        DatabaseConnectionForm,
        "clean_alias",
        lambda form: form.cleaned_data["alias"],
    )

    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, alias="taken"),
        follow=True,
    )

    assert response.status_code == HTTPStatus.OK
    assert messages_of(response) == [CONNECTION_ALIAS_TAKEN]
    connection.refresh_from_db()
    assert connection.alias == "shop"


# --- golden records ----------------------------------------------------------------------


# --- API keys ----------------------------------------------------------------------------


def test_a_connections_page_links_to_its_jobs_and_golden_records(superuser_client, connection):
    page = superuser_client.get(change_url(connection, "databaseconnection"))

    assert f'href="{changelist_url()}?db_connection={connection.pk}"' in page.text
    assert f'href="{changelist_url("goldenrecord")}?db_connection={connection.pk}"' in page.text


def test_a_staff_member_who_may_only_view_connections_is_not_shown_their_uri(
    make_staff, connection
):
    # Django shows every field of a view-only change page as read-only text, and
    # ``connection_uri`` is a property that decrypts the stored URI.
    auditor = logged_in(make_staff("audrey", "view_databaseconnection"))

    page = auditor.get(change_url(connection, "databaseconnection"))

    assert page.status_code == HTTPStatus.OK
    assert "postgresql://***@db.internal:5432/shop" in page.text
    assert SECRET not in page.text


def test_a_mistyped_uri_is_refused_without_showing_its_password(superuser_client, connection):
    # A "#" (or "/" or "?") in an unencoded password ends the host part early; the
    # "port" error then quotes the password back on the page.
    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, connection_uri="postgresql://reader:n3w#pass@db.internal/shop"),
    )

    assert response.status_code == HTTPStatus.OK  # refused, the form is shown again
    assert "connection_uri" in response.context["adminform"].form.errors
    assert "n3w" not in response.text


def test_an_unparseable_uri_is_refused_and_the_api_keeps_working(superuser_client, connection, api):
    response = superuser_client.post(
        f"/admin/finetunings/databaseconnection/{connection.pk}/change/",
        connection_form(connection, connection_uri="postgresql://[db.internal/shop"),
    )

    assert response.status_code == HTTPStatus.OK  # the form is shown again with the error
    assert "connection_uri" in response.context["adminform"].form.errors
    assert api.get("/api/v1/database-connections").status_code == HTTPStatus.OK
