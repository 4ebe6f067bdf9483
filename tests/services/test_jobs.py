"""The job services: an update changes only the fields it owns, and two edits of different
fields of one job at once both survive."""

from http import HTTPStatus

import pytest

from finetunings import services
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus
from tests.helpers.threads import ROUNDS, patch_at_once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_alias_and_metadata_of_a_job_both_survive(finetuning, api_key):
    url = f"/api/v1/finetunings/{finetuning.pk}"
    for round_ in range(ROUNDS):
        alias = f"job-round-{round_}"
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{"alias": alias}, {"metadata": metadata}], api_key[1])

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = Finetuning.objects.get(pk=finetuning.pk)
        assert (stored.alias, stored.metadata) == (alias, metadata), f"round {round_}"


def test_a_job_update_refuses_a_field_its_owner_does_not_own(finetuning):
    with pytest.raises(TypeError, match="status"):
        services.finetuning_update(finetuning=finetuning, actor="test", status="succeeded")

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert not FinetuningEvent.objects.filter(finetuning=finetuning, kind="metadata_updated")
