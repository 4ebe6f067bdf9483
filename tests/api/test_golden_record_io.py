"""POST /golden-records/import and GET /golden-records/export: files in, files out."""

import csv
import io
import json
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finetunings import golden_record_io
from finetunings.models import GoldenRecord

IMPORT = "/api/v1/golden-records/import"
EXPORT = "/api/v1/golden-records/export"
# Distinct questions; the SQL repeats a thousand statements (parsing is the slow part of an
# import, ~1 ms a statement, and is cached per statement).
SQL_VARIANTS = 1000


def csv_file(rows, columns=("question", "sql", "metadata", "external_id"), name="records.csv"):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return SimpleUploadedFile(name, out.getvalue().encode(), content_type="text/csv")


def jsonl_file(objects, name="records.jsonl"):
    text = "".join(json.dumps(obj) + "\n" for obj in objects)
    return SimpleUploadedFile(name, text.encode(), content_type="application/jsonl")


def upload(api, file, **fields):
    return api.post(IMPORT, {"file": file, **fields}, format="multipart")


def export(api, connection, file_format):
    response = api.get(EXPORT, {"db_connection_id": connection.pk, "format": file_format})
    assert response.status_code == HTTPStatus.OK, response.content
    return b"".join(response.streaming_content)


def test_a_csv_of_100000_rows_is_imported(api, connection):
    rows = (
        (f"Orders above {i}?", f"SELECT count(*) FROM orders WHERE total > {i % SQL_VARIANTS}")
        for i in range(golden_record_io.IMPORT_MAX_ROWS)
    )
    file = csv_file(rows, columns=("question", "sql"))

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json() == {"created": 100_000, "updated": 0}
    assert connection.golden_records.count() == 100_000
    assert connection.golden_records.filter(question="Orders above 99999?").exists()


def test_a_jsonl_file_of_100000_rows_is_imported(api, connection):
    objects = (
        {
            "question": f"Orders above {i}?",
            "sql": f"SELECT count(*) FROM orders WHERE total > {i % SQL_VARIANTS}",
            "db_connection_id": connection.pk,
            "metadata": {"batch": str(i // 1000)},
        }
        for i in range(golden_record_io.IMPORT_MAX_ROWS)
    )

    response = upload(api, jsonl_file(objects))

    assert response.status_code == HTTPStatus.OK, response.json()
    assert response.json() == {"created": 100_000, "updated": 0}
    assert connection.golden_records.filter(metadata={"batch": "99"}).count() == 1000


def test_one_bad_row_imports_nothing_and_is_named_by_its_line(api, connection, golden_records):
    rows = [(f"Question {i}?", f"SELECT {i}", "", "") for i in range(2500)]
    rows[1800] = ("Twice?", "SELECT 2 *", "", "")  # line 1802: header, then 1-based rows

    response = upload(api, csv_file(rows), db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"] == {
        "line 1802.sql": [
            "The SQL does not parse as postgresql at line 1, column 10: something is "
            "missing after '*'."
        ]
    }
    assert "line 1802.sql" in response.json()["detail"]
    assert GoldenRecord.objects.count() == len(golden_records)  # the first batches too


def test_every_bad_row_is_named_with_the_line_it_starts_on(api, connection):
    rows = [
        ("Fine?", "SELECT 1", "", ""),
        ("A question\nover two lines", "SELECT 2 *", "", ""),  # lines 3-4
        ("", "SELECT 1", "", ""),  # line 5
        ("Meta?", "SELECT 1", "[1]", ""),  # line 6
        ("Same id?", "SELECT 1", "", "a"),
        ("Same id again?", "SELECT 1", "", "a"),  # line 8
    ]

    response = upload(api, csv_file(rows), db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {
        "line 3.sql",
        "line 5.question",
        "line 6.metadata",
        "line 8.external_id",
    }
    assert response.json()["errors"]["line 8.external_id"] == ["'a' is also on line 7."]
    assert GoldenRecord.objects.count() == 0


def test_a_jsonl_row_that_is_not_an_object_is_named(api, connection):
    text = b'{"question": "Q?", "sql": "SELECT 1"}\n\n[1, 2]\n{not json\n'
    file = SimpleUploadedFile("r.jsonl", text)

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.json()["errors"] == {
        "line 3.row": ["Must be a JSON object."],
        "line 4.row": ["Not valid JSON (Expecting property name enclosed in double quotes)."],
    }
    assert GoldenRecord.objects.count() == 0


def test_rows_with_a_known_external_id_update_instead_of_duplicating(api, connection):
    first = [("Old question?", "SELECT 1", '{"v":"1"}', "sheet-1"), ("Other?", "SELECT 2", "", "")]
    upload(api, csv_file(first), db_connection_id=connection.pk)
    kept = GoldenRecord.objects.get(external_id="sheet-1")

    again = [("New question?", "SELECT 10", '{"v":"2"}', "sheet-1"), ("Added?", "SELECT 3", "", "")]
    response = upload(api, csv_file(again), db_connection_id=connection.pk)

    assert response.json() == {"created": 1, "updated": 1}
    kept.refresh_from_db()
    assert (kept.question, kept.sql, kept.metadata) == ("New question?", "SELECT 10", {"v": "2"})
    assert GoldenRecord.objects.count() == 3


def test_an_external_id_of_another_connection_is_a_new_record(api, make_connection):
    shop, warehouse = make_connection(), make_connection()
    rows = [("Q?", "SELECT 1", "", "same")]
    upload(api, csv_file(rows), db_connection_id=shop.pk)

    response = upload(api, csv_file(rows), db_connection_id=warehouse.pk)

    assert response.json() == {"created": 1, "updated": 0}


def test_dataherald_golden_sql_export_is_accepted(api, connection):
    dataherald = [
        {
            "id": "65a1f0c2e4b0a1b2c3d4e5f6",
            "db_connection_id": connection.pk,
            "prompt_text": "How many orders?",
            "sql": "SELECT count(*) FROM orders",
            "metadata": {},
            "created_at": "2024-01-12T10:00:00",
        },
        {
            "id": "65a1f0c2e4b0a1b2c3d4e5f7",
            "db_connection_id": connection.pk,
            "prompt_text": "Largest order?",
            "sql": "SELECT max(total) FROM orders",
            "metadata": None,
            "created_at": "2024-01-12T10:00:01",
        },
    ]

    first = upload(api, jsonl_file(dataherald))
    again = upload(api, jsonl_file(dataherald))

    assert first.json() == {"created": 2, "updated": 0}
    assert again.json() == {"created": 0, "updated": 2}  # Dataherald's id is the external id
    record = GoldenRecord.objects.get(external_id="65a1f0c2e4b0a1b2c3d4e5f6")
    assert (record.question, record.db_connection_id) == ("How many orders?", connection.pk)


def test_dataherald_rows_go_to_the_connection_the_import_names(api, connection):
    row = {"prompt_text": "How many?", "sql": "SELECT 1", "db_connection_id": "elsewhere-id"}

    response = upload(api, jsonl_file([row]), db_connection_id=connection.pk)

    assert response.json() == {"created": 1, "updated": 0}
    assert connection.golden_records.count() == 1


def test_rows_without_a_connection_are_named(api, connection):
    response = upload(api, jsonl_file([{"question": "Q?", "sql": "SELECT 1"}]))

    assert response.json()["errors"] == {
        "line 1.db_connection_id": [
            "Missing: give db_connection_id on each row or for the whole import."
        ]
    }


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_export_round_trips_through_import_byte_for_byte(api, make_connection, file_format):
    shop, copy = make_connection(), make_connection()
    rows = [
        ("Orders, with a comma?", "SELECT count(*) FROM orders", '{"b":"2","a":"é"}', "x-2"),
        ('Quotes "here"\nand a new line?', "SELECT 'a''b'\nFROM orders", "", "x-1"),
        ("No external id?", "SELECT 1", "", ""),
    ]
    upload(api, csv_file(rows), db_connection_id=shop.pk)
    exported = export(api, shop, file_format)

    name = f"export.{file_format}"
    response = upload(api, SimpleUploadedFile(name, exported), db_connection_id=copy.pk)

    assert response.json() == {"created": 3, "updated": 0}
    assert export(api, copy, file_format) == exported


def test_an_export_imported_into_its_own_connection_changes_nothing(api, connection):
    upload(api, csv_file([("Q?", "SELECT 1", "", "")]), db_connection_id=connection.pk)
    exported = export(api, connection, "csv")

    response = upload(api, SimpleUploadedFile("e.csv", exported), db_connection_id=connection.pk)

    assert response.json() == {"created": 0, "updated": 1}
    assert export(api, connection, "csv") == exported


def test_export_csv_has_a_header_and_one_row_per_record(api, connection):
    upload(api, csv_file([("Q?", "SELECT 1", '{"k":"v"}', "e1")]), db_connection_id=connection.pk)

    response = api.get(EXPORT, {"db_connection_id": connection.pk, "format": "csv"})
    body = b"".join(response.streaming_content)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="golden-records-{connection.pk}.csv"'
    )
    assert body == b'external_id,question,sql,metadata\r\ne1,Q?,SELECT 1,"{""k"":""v""}"\r\n'


def test_export_is_one_query_whatever_the_number_of_records(api, connection, make_golden_records):
    make_golden_records(connection, count=30)
    export(api, connection, "jsonl")  # the key's first use is recorded: one write, once
    with CaptureQueriesContext(db) as few:
        export(api, connection, "jsonl")
    make_golden_records(connection, count=300)
    with CaptureQueriesContext(db) as many:
        lines = export(api, connection, "jsonl").splitlines()

    assert len(lines) == 330
    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"format": "csv"}, "db_connection_id"), ({"format": "xml"}, "format")],
)
def test_export_with_a_bad_query_is_a_400_naming_the_parameter(api, connection, query, field):
    response = api.get(EXPORT, {"db_connection_id": connection.pk, **query})
    if field == "db_connection_id":
        response = api.get(EXPORT, query)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["errors"]


def test_export_of_an_unknown_connection_is_a_400(api, db):
    response = api.get(EXPORT, {"db_connection_id": "nope", "format": "csv"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"] == {
        "db_connection_id": ["No database connection with id 'nope'."]
    }


def test_a_file_of_unknown_format_is_a_400(api, connection):
    file = SimpleUploadedFile("records.txt", b"question,sql\n", content_type="text/plain")

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "format" in response.json()["errors"]


def test_a_file_that_is_not_utf8_is_a_400(api, connection):
    file = SimpleUploadedFile("r.csv", "question,sql\nCafé?,SELECT 1\n".encode("latin-1"))

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["file"] == ["Line 2 is not UTF-8 text."]


def test_more_rows_than_allowed_is_refused(api, connection, settings, monkeypatch):
    monkeypatch.setattr(golden_record_io.importing, "IMPORT_MAX_ROWS", 5)
    rows = [(f"Q{i}?", "SELECT 1") for i in range(6)]

    response = upload(
        api, csv_file(rows, columns=("question", "sql")), db_connection_id=connection.pk
    )

    assert response.json()["errors"] == {
        "file": ["More than 5 rows; split the file into smaller ones."]
    }
    assert GoldenRecord.objects.count() == 0


def test_an_empty_file_is_refused(api, connection):
    response = upload(api, SimpleUploadedFile("e.csv", b""), db_connection_id=connection.pk)

    assert response.json()["errors"] == {"file": ["The submitted file is empty."]}


def test_a_file_with_only_a_header_is_refused(api, connection):
    file = SimpleUploadedFile("e.csv", b"question,sql\r\n")

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.json()["errors"] == {"file": ["The file holds no golden records."]}


def test_an_import_retried_with_its_idempotency_key_imports_once(api, connection):
    rows = [("Q?", "SELECT 1", "", "")]

    first = api.post(
        IMPORT,
        {"file": csv_file(rows), "db_connection_id": connection.pk},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="imp",
    )
    again = api.post(
        IMPORT,
        {"file": csv_file(rows), "db_connection_id": connection.pk},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="imp",
    )
    other_file = api.post(
        IMPORT,
        {"file": csv_file([("Other?", "SELECT 2", "", "")]), "db_connection_id": connection.pk},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="imp",
    )

    assert again.json() == first.json() == {"created": 1, "updated": 0}
    assert again["Idempotent-Replayed"] == "true"
    assert other_file.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert GoldenRecord.objects.count() == 1


def test_staff_need_add_and_change_to_import_and_view_to_export(client, make_staff, connection):
    client.force_login(make_staff("adder", "add_goldenrecord", "view_goldenrecord"))
    file = csv_file([("Q?", "SELECT 1", "", "")])

    refused = client.post(IMPORT, {"file": file, "db_connection_id": connection.pk})
    exported = client.get(EXPORT, {"db_connection_id": connection.pk})

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert exported.status_code == HTTPStatus.OK


def test_the_schema_describes_the_upload_and_the_downloads(anonymous_api, db):
    schema = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    body = schema["paths"]["/api/v1/golden-records/import"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    downloads = schema["paths"]["/api/v1/golden-records/export"]["get"]["responses"]["200"]
    assert set(downloads["content"]) == {"text/csv", "application/jsonl"}


def test_a_file_larger_than_allowed_is_refused_before_reading(api, connection, monkeypatch):
    monkeypatch.setattr(golden_record_io.importing, "IMPORT_MAX_BYTES", 10)
    file = csv_file([("A question that is long enough?", "SELECT 1", "", "")])

    response = upload(api, file, db_connection_id=connection.pk)

    assert response.json()["errors"] == {"file": ["Larger than 0 MiB; split the file."]}
    assert GoldenRecord.objects.count() == 0


def test_an_undeclared_method_on_the_export_route_is_405(api, connection):
    response = api.generic(
        "TRACE", f"/api/v1/golden-records/export?db_connection_id={connection.pk}&format=csv"
    )

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
