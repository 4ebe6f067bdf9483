"""The training file comes from one query, whatever the job's size, with the same bytes."""

import io
import json

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings import services, training_data
from finetunings.models import Finetuning, GoldenRecord

pytestmark = pytest.mark.usefixtures("no_network")


def expected_file(finetuning: Finetuning) -> bytes:
    """The file as built record by record from the ORM (how it was built before)."""
    connection = finetuning.db_connection
    system = training_data.system_message(connection)
    lines = []
    for record_id in finetuning.golden_records:
        record = GoldenRecord.objects.get(pk=record_id)
        example = {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": record.question},
                {"role": "assistant", "content": record.sql},
            ]
        }
        lines.append(json.dumps(example, ensure_ascii=False).encode() + b"\n")
    return b"".join(lines)


def build(finetuning: Finetuning) -> tuple[bytes, int]:
    out = io.BytesIO()
    with CaptureQueriesContext(db_connection) as captured:
        training_data.write_training_file(finetuning=finetuning, out=out)
    return out.getvalue(), len(captured.captured_queries)


def make_job(connection, count, make_golden_records, order=None):
    records = make_golden_records(connection, count=count)
    ids = [record.pk for record in records]
    if order is not None:
        ids = order(ids)
    job = services.finetuning_create(
        db_connection_id=connection.pk, actor="test", golden_records=ids
    )
    return Finetuning.objects.get(pk=job.pk)


def test_the_file_has_the_same_bytes_as_record_by_record_in_the_stored_order(
    connection, make_golden_records
):
    GoldenRecord.objects.bulk_create(
        [GoldenRecord(db_connection=connection, question="Où sont les 🦆 ?", sql="SELECT 'é'")]
    )
    job = make_job(connection, 30, make_golden_records, order=lambda ids: ids[::-1])

    content, _ = build(job)

    assert content == expected_file(job)


def test_building_the_file_runs_the_same_queries_for_12_and_1200_records(
    make_connection, make_golden_records
):
    small = make_job(make_connection(), 12, make_golden_records)
    big = make_job(make_connection(), 1200, make_golden_records)

    small_content, small_queries = build(small)
    big_content, big_queries = build(big)

    assert big_content.count(b"\n") == 1200
    assert small_queries == big_queries <= 2


def test_a_deleted_and_a_moved_record_are_each_reported(
    connection, make_connection, make_golden_records
):
    job = make_job(connection, 12, make_golden_records)
    GoldenRecord.objects.filter(pk=job.golden_records[3]).delete()
    GoldenRecord.objects.filter(pk=job.golden_records[5]).update(db_connection=make_connection())

    with pytest.raises(training_data.TrainingDataRejected) as rejected:
        build(job)

    assert rejected.value.message == " ".join(
        [
            training_data.MISSING_RECORDS_MESSAGE.format(missing=1, total=12),
            training_data.MOVED_RECORDS_MESSAGE.format(moved=1, total=12),
        ]
    )


def test_lines_escape_quotes_backslashes_and_control_characters_as_json_dumps_does(
    connection, make_golden_records
):
    awkward = 'Say "hi"\\ then\n\ttab \x01 \u2028 — ok?'
    connection.schema = 'CREATE TABLE "odd\\name" (note text); -- "quoted" \u00e9'
    connection.save()
    make_golden_records(connection, count=10)
    GoldenRecord.objects.bulk_create(
        [
            GoldenRecord(db_connection=connection, question=f"{awkward} {i}", sql=f"SELECT '{i}'")
            for i in range(3)
        ]
    )
    job = services.finetuning_create(db_connection_id=connection.pk, actor="test")
    job = Finetuning.objects.get(pk=job.pk)

    content, _ = build(job)

    assert content == expected_file(job)
    questions = [json.loads(line)["messages"][1]["content"] for line in content.split(b"\n")[:-1]]
    assert [f"{awkward} {i}" for i in range(3)] == [q for q in questions if q.startswith("Say")]
