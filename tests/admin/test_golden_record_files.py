"""Importing and exporting golden records from the admin, through the API's services."""

from http import HTTPStatus

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from finetunings.admin.golden_record_files import IMPORT_DONE, IMPORT_REFUSED
from finetunings.models import GoldenRecord
from tests.helpers.admin import changelist_url, logged_in, messages_of

IMPORT_URL = reverse("admin:finetunings_goldenrecord_import")
EXPORT_URL = reverse("admin:finetunings_goldenrecord_export")
CSV = b"question,sql,external_id\r\nHow many orders?,SELECT count(*) FROM orders,row-1\r\n"


def test_the_golden_record_list_links_to_import_and_export(superuser_client, connection):
    page = superuser_client.get(changelist_url("goldenrecord"), {"db_connection": connection.pk})

    assert f'href="{IMPORT_URL}?db_connection={connection.pk}"' in page.text
    assert f'href="{EXPORT_URL}?db_connection={connection.pk}&amp;format=csv"' in page.text


def test_an_import_lands_on_the_connections_records_with_a_message(superuser_client, connection):
    file = SimpleUploadedFile("records.csv", CSV)

    response = superuser_client.post(
        IMPORT_URL, {"db_connection": connection.pk, "file": file}, follow=True
    )

    assert response.redirect_chain[-1][0] == (
        f"{changelist_url('goldenrecord')}?db_connection={connection.pk}"
    )
    assert messages_of(response) == [IMPORT_DONE.format(file="records.csv", created=1, updated=0)]
    assert GoldenRecord.objects.get().external_id == "row-1"


def test_a_bad_file_lists_each_problem_and_imports_nothing(superuser_client, connection):
    bad = CSV + b"Twice?,SELECT 2 *,row-2\r\n"

    response = superuser_client.post(
        IMPORT_URL,
        {"db_connection": connection.pk, "file": SimpleUploadedFile("bad.csv", bad)},
    )

    assert response.status_code == HTTPStatus.OK
    assert messages_of(response) == [IMPORT_REFUSED.format(count=1)]
    assert "line 3.sql: The SQL does not parse as postgresql" in response.text
    assert GoldenRecord.objects.count() == 0


def test_export_streams_the_same_file_as_the_api(superuser_client, api, connection):
    superuser_client.post(
        IMPORT_URL,
        {"db_connection": connection.pk, "file": SimpleUploadedFile("records.csv", CSV)},
    )

    response = superuser_client.get(EXPORT_URL, {"db_connection": connection.pk, "format": "csv"})
    from_api = api.get(
        "/api/v1/golden-records/export", {"db_connection_id": connection.pk, "format": "csv"}
    )

    assert b"".join(response.streaming_content) == b"".join(from_api.streaming_content)
    assert response["Content-Disposition"].startswith("attachment;")


def test_staff_without_add_and_change_cannot_import(make_staff, connection):
    client = logged_in(make_staff("viewer", "view_goldenrecord"))

    page = client.get(changelist_url("goldenrecord"))
    response = client.post(
        IMPORT_URL,
        {"db_connection": connection.pk, "file": SimpleUploadedFile("r.csv", CSV)},
    )

    assert IMPORT_URL not in page.text
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert GoldenRecord.objects.count() == 0
