"""The golden record services: an update changes only the fields it owns, and two updates
of different fields at once both survive."""

from http import HTTPStatus

import pytest

from finetunings import services
from finetunings.models import (
    GoldenRecord,
)
from tests.helpers.threads import ROUNDS, patch_at_once


def test_a_golden_record_update_refuses_a_field_its_owner_does_not_own(golden_records):
    with pytest.raises(TypeError, match="external_id"):
        services.golden_record_update(golden_record=golden_records[0], external_id="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_question_and_metadata_of_a_golden_record_both_survive(
    golden_records, api_key
):
    record = golden_records[0]
    url = f"/api/v1/golden-records/{record.pk}"
    for round_ in range(ROUNDS):
        question = f"How many orders were there in round {round_}?"
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{"question": question}, {"metadata": metadata}], api_key[1])

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = GoldenRecord.objects.get(pk=record.pk)
        assert (stored.question, stored.metadata) == (question, metadata), f"round {round_}"
