"""Database connections, golden records and API keys in the admin."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils.html import escape

from finetunings import errors, selectors
from finetunings.admin.api_keys import API_KEY_CREATED, API_KEY_REVOKED
from finetunings.admin.connections import CONNECTION_ALIAS_TAKEN, DatabaseConnectionForm
from finetunings.models import (
    APIKey,
    DatabaseConnection,
    Finetuning,
    FinetuningStatus,
    GoldenRecord,
)
from finetunings.validation import sql_problems
from tests.admin.helpers import (
    SECRET,
    change_url,
    changelist_url,
    connection_form,
    messages_of,
)
from tests.uri_forms import INVALID_URI_FORMS, VALID_URI_FORMS

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


def golden_record_form(connection, **fields):
    return {
        "db_connection": connection.pk,
        "question": "How many orders?",
        "sql": "SELECT count(*)\nFROM orders",
        "metadata": "",
        **fields,
    }


def test_a_golden_record_with_invalid_sql_is_refused_with_the_reason(superuser_client, connection):
    bad_sql = "SELEC count(* FROM orders"

    response = superuser_client.post(
        reverse("admin:finetunings_goldenrecord_add"),
        golden_record_form(connection, sql=bad_sql),
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["sql"] == sql_problems(bad_sql, "postgresql")
    assert not GoldenRecord.objects.exists()


def test_a_golden_record_is_added_and_its_sql_shown_readably(superuser_client, connection):
    response = superuser_client.post(
        reverse("admin:finetunings_goldenrecord_add"), golden_record_form(connection)
    )

    assert response.status_code == HTTPStatus.FOUND
    record = GoldenRecord.objects.get()
    assert record.sql == "SELECT count(*)\nFROM orders"
    page = superuser_client.get(changelist_url("goldenrecord"))
    assert '<pre class="ft-code">SELECT count(*)\nFROM orders</pre>' in page.text


def test_editing_a_golden_record_validates_the_new_sql(
    superuser_client, connection, golden_records
):
    record = golden_records[0]
    url = change_url(record, "goldenrecord")

    refused = superuser_client.post(url, golden_record_form(connection, sql="DROP TABLE orders"))
    accepted = superuser_client.post(url, golden_record_form(connection, sql="SELECT 1"))

    assert refused.status_code == HTTPStatus.OK
    assert accepted.status_code == HTTPStatus.FOUND
    record.refresh_from_db()
    assert record.sql == "SELECT 1"


def test_a_golden_records_connection_is_read_only_on_its_page(
    superuser_client, connection, golden_records, make_connection
):
    other = make_connection(alias="warehouse")
    record = golden_records[0]
    url = change_url(record, "goldenrecord")

    page = superuser_client.get(url)
    response = superuser_client.post(
        url, golden_record_form(other, question="Orders above ten dollars?")
    )

    assert 'name="db_connection"' not in page.text
    assert response.status_code == HTTPStatus.FOUND
    record.refresh_from_db()
    assert record.question == "Orders above ten dollars?"
    assert record.db_connection_id == connection.pk


def test_golden_records_are_searched_and_filtered(
    superuser_client, connection, golden_records, make_connection, make_golden_records
):
    other = make_connection(alias="warehouse")
    make_golden_records(other, count=3)

    by_connection = superuser_client.get(
        changelist_url("goldenrecord"), {"db_connection": other.pk}
    )
    by_sql = superuser_client.get(changelist_url("goldenrecord"), {"q": "total > 110"})
    by_question = superuser_client.get(changelist_url("goldenrecord"), {"q": "above 20 dollars"})

    assert {r.db_connection_id for r in by_connection.context["cl"].result_list} == {other.pk}
    assert len(by_connection.context["cl"].result_list) == 3
    assert [r.sql for r in by_sql.context["cl"].result_list] == [
        "SELECT count(*) FROM orders WHERE total > 110"
    ]
    assert len(by_question.context["cl"].result_list) == 2  # shop and warehouse


# --- API keys ----------------------------------------------------------------------------


def test_an_api_key_created_in_the_admin_is_shown_once_and_only_its_hash_kept(superuser_client, db):
    response = superuser_client.post(
        reverse("admin:finetunings_apikey_add"), {"name": "nightly-import"}, follow=True
    )

    api_key = APIKey.objects.get()
    (created_message,) = [m for m in messages_of(response) if "Copy it now" in m]
    raw_key = created_message.rsplit(" ", 1)[-1]
    assert created_message == API_KEY_CREATED.format(name="nightly-import", raw_key=raw_key)
    assert selectors.api_key_for(raw_key) == api_key
    assert raw_key not in api_key.key_hash

    page = superuser_client.get(change_url(api_key, "apikey"))
    assert page.status_code == HTTPStatus.OK
    assert api_key.key_hash not in page.text
    assert raw_key not in page.text
    listed = superuser_client.get(changelist_url("apikey"))
    assert api_key.prefix in listed.text
    assert raw_key not in listed.text


def test_api_keys_are_revoked_with_the_action(superuser_client, api_key):
    key, raw_key = api_key

    response = superuser_client.post(
        changelist_url("apikey"),
        {"action": "revoke_api_keys", "_selected_action": [key.pk], "index": 0},
        follow=True,
    )

    assert messages_of(response) == [API_KEY_REVOKED.format(count=1)]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert selectors.api_key_for(raw_key) is None
    live = superuser_client.get(changelist_url("apikey"), {"revoked": "no"})
    revoked = superuser_client.get(changelist_url("apikey"), {"revoked": "yes"})
    assert list(live.context["cl"].result_list) == []
    assert list(revoked.context["cl"].result_list) == [key]


def test_a_connections_page_links_to_its_jobs_and_golden_records(superuser_client, connection):
    page = superuser_client.get(change_url(connection, "databaseconnection"))

    assert f'href="{changelist_url()}?db_connection={connection.pk}"' in page.text
    assert f'href="{changelist_url("goldenrecord")}?db_connection={connection.pk}"' in page.text


@pytest.mark.parametrize("page", ["change", "delete", "history"])
@pytest.mark.parametrize("model", ["finetuning", "databaseconnection", "goldenrecord", "apikey"])
def test_an_object_id_holding_a_nul_character_is_a_missing_object_not_a_crash(
    superuser_client, model, page
):
    # PostgreSQL refuses to even look such an id up (DataError), which was a 500.
    url = reverse(f"admin:finetunings_{model}_{page}", args=["abc\x00"])

    response = superuser_client.get(url)

    if (model, page) == ("apikey", "delete"):
        assert response.status_code == HTTPStatus.FORBIDDEN  # keys are revoked, never deleted
        return
    assert response.status_code == HTTPStatus.FOUND  # to the admin index, "doesn't exist"
    assert "exist" in " ".join(messages_of(superuser_client.get(response.url)))
