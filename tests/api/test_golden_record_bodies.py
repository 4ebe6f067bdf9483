"""A golden record create answers, byte for byte, what GoldenRecordSerializer renders, and
a bulk body's fast check validates into exactly what the serializer would.

A bulk create is checked in one pass and answered from the rows written (the fast path);
the serializer stays the reference both are compared with.
"""

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from finetunings import validation
from finetunings.api import golden_record_bodies
from finetunings.api.golden_record_bodies import well_formed_records
from finetunings.api.serializers import GOLDEN_RECORDS_BULK_MAX, GoldenRecordSerializer
from finetunings.models import GoldenRecord

API = "/api/v1/golden-records"


def items(connection) -> list[dict]:
    """One item of each shape a body takes."""
    return [
        {"db_connection_id": connection.pk, "question": "How many?", "sql": "SELECT 1"},
        {
            "db_connection_id": f"  {connection.pk}\n",
            "question": "  Données über ✓ – “quoted” \\ / \n tab\t 🚀  ",
            "sql": "\n  SELECT 'naïve 🚀' AS x  \n",
            # Keys in jsonb's order (by length, then bytes), so that PostgreSQL reads them
            # back in the order the create answers with.
            "metadata": {"note": "ünï \n 🚀", "team": "sales", "empty": ""},
        },
        {"db_connection_id": connection.pk, "question": "Q?", "sql": "SELECT 2", "metadata": {}},
        {"db_connection_id": connection.pk, "question": "Q?", "sql": "SELECT 3", "metadata": None},
        {
            "db_connection_id": connection.pk,
            "question": "Ignored fields?",
            "sql": "SELECT 4",
            "id": "mine",
            "external_id": "theirs",
            "created_at": "2020-01-01T00:00:00Z",
            "unknown": [1, 2],
        },
    ]


def rendered(record_ids) -> bytes:
    records = [GoldenRecord.objects.get(pk=record_id) for record_id in record_ids]
    return JSONRenderer().render(GoldenRecordSerializer(records, many=True).data)


def test_a_bulk_create_answers_as_the_serializer_renders_the_stored_records(api, connection):
    response = api.post(API, items(connection), format="json")

    assert response.status_code == 201
    assert response.content == rendered([record["id"] for record in response.json()])


def test_a_single_create_answers_as_the_serializer_renders_the_stored_record(api, connection):
    for item in items(connection):
        response = api.post(API, item, format="json")

        assert response.status_code == 201
        record = GoldenRecord.objects.get(pk=response.json()["id"])
        assert response.content == JSONRenderer().render(GoldenRecordSerializer(record).data)


def test_a_create_answers_metadata_keys_in_the_order_given(api, connection):
    item = {"db_connection_id": connection.pk, "question": "Q?", "sql": "SELECT 1"}
    metadata = {"zeta": "1", "alpha": "2", "b": "3"}

    bulk = api.post(API, [{**item, "metadata": metadata}] * 2, format="json")
    single = api.post(API, {**item, "metadata": metadata}, format="json")

    assert [list(record["metadata"]) for record in bulk.json()] == [list(metadata)] * 2
    assert list(single.json()["metadata"]) == list(metadata)


def test_a_well_formed_bulk_create_runs_no_per_item_serializer(api, connection, monkeypatch):
    calls = []
    for method in ("to_internal_value", "to_representation"):
        original = getattr(GoldenRecordSerializer, method)
        monkeypatch.setattr(
            GoldenRecordSerializer,
            method,
            lambda self, data, original=original, method=method: (
                calls.append(method) or original(self, data)
            ),
        )

    response = api.post(API, items(connection) * 20, format="json")

    assert response.status_code == 201
    assert len(response.json()) == 100
    assert calls == []


def serializer_validated(data):
    serializer = GoldenRecordSerializer(
        data=data, many=True, allow_empty=False, max_length=GOLDEN_RECORDS_BULK_MAX
    )
    return serializer.validated_data if serializer.is_valid() else None


def test_the_fast_check_validates_well_formed_bodies_as_the_serializer_does(connection):
    data = items(connection)

    fast = well_formed_records(data, max_length=GOLDEN_RECORDS_BULK_MAX)

    assert fast is not None
    assert fast == serializer_validated(data)
    # Same keys in the same order, metadata a copy (as the serializer's DictField makes).
    assert [list(record) for record in fast] == [
        list(record) for record in serializer_validated(data)
    ]
    assert fast[1]["metadata"] is not data[1]["metadata"]


def test_the_fast_check_knows_the_serializers_writable_fields_and_their_limits():
    fields = GoldenRecordSerializer().fields
    writable = [name for name, field in fields.items() if not field.read_only]

    assert writable == ["db_connection_id", "question", "sql", "metadata"]
    assert [(fields[name].max_length, fields[name].trim_whitespace) for name in writable[:3]] == [
        (golden_record_bodies.CONNECTION_ID_MAX_LENGTH, True),
        (validation.QUESTION_MAX_LENGTH, True),
        (validation.SQL_MAX_LENGTH, False),
    ]
    assert (fields["metadata"].required, fields["metadata"].allow_null) == (False, True)


OK = {"db_connection_id": "c" * 24, "question": "Q?", "sql": "SELECT 1"}
LIMIT = validation.QUESTION_MAX_LENGTH
# Items at and past each limit or type the serializer checks; the fast check must either
# agree with the serializer exactly or leave the item to it.
EDGES = [
    {**OK, "db_connection_id": " " + "c" * 24 + " "},
    {**OK, "db_connection_id": "c" * 25},
    {**OK, "db_connection_id": "   "},
    {**OK, "db_connection_id": ""},
    {**OK, "db_connection_id": 42},
    {**OK, "db_connection_id": None},
    {key: value for key, value in OK.items() if key != "db_connection_id"},
    {**OK, "question": " " + "q" * LIMIT + " "},
    {**OK, "question": "q" * (LIMIT + 1)},
    {**OK, "question": " \t\n"},
    {**OK, "question": True},
    {**OK, "question": ["a"]},
    {**OK, "sql": "   "},
    {**OK, "sql": ""},
    {**OK, "sql": "s" * validation.SQL_MAX_LENGTH},
    {**OK, "sql": "s" * (validation.SQL_MAX_LENGTH + 1)},
    {**OK, "sql": 1.5},
    {key: value for key, value in OK.items() if key != "sql"},
    {**OK, "metadata": {"a": 1}},
    {**OK, "metadata": {"a": None}},
    {**OK, "metadata": {"a": ""}},
    {**OK, "metadata": ["a"]},
    {**OK, "metadata": "a"},
    {**OK, "metadata": {"a": {"b": "c"}}},
    {**OK, "question": "a\x00b"},
    {**OK, "sql": "SELECT '\ud800'"},
    {**OK, "metadata": {"a": "b\x00"}},
    {**OK, "metadata": {"a": "\udfff"}},
    "not an object",
    None,
    [OK],
]


@pytest.mark.parametrize("item", EDGES)
def test_the_fast_check_never_differs_from_the_serializer(item):
    fast = well_formed_records([OK, item], max_length=GOLDEN_RECORDS_BULK_MAX)

    assert fast is None or fast == serializer_validated([OK, item])


@pytest.mark.parametrize("data", [[], {"a": 1}, "a", None, [OK] * 3])
def test_the_fast_check_leaves_what_the_list_refuses_to_the_serializer(data):
    assert well_formed_records(data, max_length=2) is None


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_a_stored_record_renders_as_the_serializer_renders_it_in_any_time_zone(
    golden_records, zone
):
    GoldenRecord.objects.filter(pk=golden_records[0].pk).update(
        metadata={"k": "v"}, external_id="ext-1"
    )
    with timezone.override(zone):
        for record in GoldenRecord.objects.all():
            row = {
                field: getattr(record, field)
                for field in ("id", "db_connection_id", "question", "sql", "metadata")
            }
            row.update(external_id=record.external_id, created_at=record.created_at)
            assert JSONRenderer().render(golden_record_bodies.golden_record_body(row)) == (
                JSONRenderer().render(GoldenRecordSerializer(record).data)
            )
