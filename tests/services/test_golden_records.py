"""The golden record services: an update changes only the fields it owns, and two updates
of different fields at once both survive."""

import pytest

from finetunings import services
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
