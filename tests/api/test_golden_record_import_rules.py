"""The import checks a row by the same rules, with the same messages, as the API and admin."""

import csv
import io
from http import HTTPStatus

from django.core.files.uploadedfile import SimpleUploadedFile

from finetunings.errors import ErrorCode
from finetunings.models import GoldenRecord
from finetunings.validation import QUESTION_MAX_LENGTH, SQL_MAX_LENGTH, sql_problems

IMPORT = "/api/v1/golden-records/import"


def import_rows(api, connection, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("question", "sql"))
    writer.writerows(rows)
    upload = SimpleUploadedFile("records.csv", out.getvalue().encode(), content_type="text/csv")
    return api.post(IMPORT, {"file": upload, "db_connection_id": connection.pk}, "multipart")


def test_sql_over_the_limit_is_named_as_the_sql_check_names_it(api, connection):
    too_long = "SELECT 1 " + "-" * (SQL_MAX_LENGTH * 2)  # well past the old 50,000 too

    response = import_rows(api, connection, [("How many?", too_long)])

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.VALIDATION
    assert response.json()["errors"]["line 2.sql"] == sql_problems(too_long, connection.dialect)
    assert not GoldenRecord.objects.filter(db_connection=connection).exists()


def test_a_question_over_the_limit_is_refused(api, connection):

    response = import_rows(api, connection, [("q" * (QUESTION_MAX_LENGTH + 1), "SELECT 1")])

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]["line 2.question"] == [
        f"Longer than {QUESTION_MAX_LENGTH} characters."
    ]
