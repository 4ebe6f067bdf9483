"""Golden records in the admin: their SQL is checked, shown readably, searched and filtered."""

from http import HTTPStatus

from django.urls import reverse

from finetunings.models import (
    GoldenRecord,
)
from finetunings.validation import sql_problems
from tests.helpers.admin import (
    change_url,
    changelist_url,
)


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
