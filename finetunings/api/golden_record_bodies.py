"""The fast path of a bulk create of golden records: checked and answered as plain data.

Through ``GoldenRecordSerializer``, 10,000 records cost hundreds of thousands of field and
validator calls on the way in and as many on the way out: most of the request's time. A body
whose every item is well formed (the common case) is checked here in one pass, into the
same validated data; anything else goes through the serializer, so every 400 keeps its
exact messages. The answer is built from the rows written. The serializer stays the
schema's description and the reference: tests/api/test_golden_record_bodies.py compares
the two, for validated data and for bytes.
"""

from django.utils import timezone
from rest_framework import serializers

from finetunings import hygiene, validation
from finetunings.api.fields import rendered_datetime

# ``GoldenRecordSerializer``'s limit of db_connection_id (the others are validation's).
CONNECTION_ID_MAX_LENGTH = 24


def _record(item) -> dict | None:
    """What ``GoldenRecordSerializer`` validates ``item`` into, or None if anything is off.

    DRF's CharField strips db_connection_id and question (``trim_whitespace``), not sql,
    and checks the limits on the stripped text; metadata, when given, is copied.
    """
    if type(item) is not dict:
        return None
    connection_id, question, sql = (
        item.get("db_connection_id"),
        item.get("question"),
        item.get("sql"),
    )
    if type(connection_id) is not str or type(question) is not str or type(sql) is not str:
        return None
    connection_id, question = connection_id.strip(), question.strip()
    if not (
        0 < len(connection_id) <= CONNECTION_ID_MAX_LENGTH
        and 0 < len(question) <= validation.QUESTION_MAX_LENGTH
        and 0 < len(sql) <= validation.SQL_MAX_LENGTH
    ):
        return None
    record = {"db_connection_id": connection_id, "question": question, "sql": sql}
    if "metadata" in item:
        metadata = item["metadata"]
        if metadata is not None:
            if type(metadata) is not dict or not all(
                type(key) is str and type(value) is str for key, value in metadata.items()
            ):
                return None
            metadata = dict(metadata)
        record["metadata"] = metadata
    return record


def well_formed_records(data, *, max_length: int | None) -> list[dict] | None:
    """``GoldenRecordSerializer(many=True)``'s validated data for ``data``, or None when the
    serializer might find anything wrong (then it must run, to say what)."""
    if type(data) is not list or not data or (max_length is not None and len(data) > max_length):
        return None
    records = []
    texts = []
    for item in data:
        record = _record(item)
        if record is None:
            return None
        records.append(record)
        texts += (record["db_connection_id"], record["question"], record["sql"])
        if record.get("metadata"):
            texts += record["metadata"].values()
    # The JSON parser refuses these already; DRF's validators would too, so they are
    # checked here as well, once over all the text.
    text = "\n".join(texts)
    if "\x00" in text or (not text.isascii() and hygiene.has_unsafe_text(text)):
        return None
    return records


def golden_record_body(row: dict, zone=None) -> dict:
    """What ``GoldenRecordSerializer`` renders for the record of ``row``, in its field order."""
    metadata = row["metadata"]
    return {
        "id": row["id"],
        "db_connection_id": row["db_connection_id"],
        "question": row["question"],
        "sql": row["sql"],
        "metadata": None
        if metadata is None
        else {str(key): None if value is None else str(value) for key, value in metadata.items()},
        "external_id": row["external_id"],
        "created_at": rendered_datetime(row["created_at"], zone or timezone.get_current_timezone()),
    }


class GoldenRecordListSerializer(serializers.ListSerializer):
    """``GoldenRecordSerializer(many=True)`` for a bulk create, with the fast path.

    Its instance is the list of rows ``services.golden_records_create_rows`` wrote.
    """

    def to_internal_value(self, data):
        records = None
        if self.min_length is None:
            records = well_formed_records(data, max_length=self.max_length)
        return super().to_internal_value(data) if records is None else records

    def to_representation(self, data):
        zone = timezone.get_current_timezone()  # once: each look-up costs a context read
        return [golden_record_body(row, zone) for row in data]
