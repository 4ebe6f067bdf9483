"""The golden record services: a create answers with the records as stored, an update
changes only the fields it owns, and two updates of different fields at once both survive."""

import pytest
from django.db.models.signals import pre_init

from finetunings import services
from finetunings.models import GoldenRecord
from tests.helpers.threads import assert_field_and_metadata_patches_both_survive


def test_a_golden_record_update_refuses_a_field_its_owner_does_not_own(golden_records):
    with pytest.raises(TypeError, match="external_id"):
        services.golden_record_update(golden_record=golden_records[0], external_id="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_question_and_metadata_of_a_golden_record_both_survive(
    golden_records, api_key
):
    record = golden_records[0]
    assert_field_and_metadata_patches_both_survive(
        record,
        f"/api/v1/golden-records/{record.pk}",
        "question",
        lambda round_: f"How many orders were there in round {round_}?",
        api_key[1],
    )


def test_created_rows_are_the_records_as_stored_and_no_model_instance_is_built(connection):
    built = []

    def count(sender, **kwargs):
        built.append(sender)

    records = [
        {"db_connection_id": connection.pk, "question": f"Q{i}?", "sql": f"SELECT {i}"}
        for i in range(3)
    ]
    records[1]["metadata"] = {"team": "sales"}
    pre_init.connect(count, sender=GoldenRecord)
    try:
        rows = services.golden_records_create_rows(records=records)
    finally:
        pre_init.disconnect(count, sender=GoldenRecord)

    assert built == []
    stored = GoldenRecord.objects.filter(pk__in=[row["id"] for row in rows]).values()
    by_id = {record["id"]: record for record in stored}
    assert [by_id[row["id"]] for row in rows] == rows


def test_created_records_are_instances_as_stored(connection):
    (created,) = services.golden_records_create(
        records=[{"db_connection_id": connection.pk, "question": "Q?", "sql": "SELECT 1"}]
    )

    stored = GoldenRecord.objects.get(pk=created.pk)
    assert [getattr(created, f.attname) for f in GoldenRecord._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in GoldenRecord._meta.concrete_fields
    ]
    assert not created._state.adding
