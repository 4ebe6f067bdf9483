"""The job services: an update changes only the fields it owns, and two edits of different
fields of one job at once both survive."""

import pytest

from finetunings import services
from finetunings.models import FinetuningEvent, FinetuningStatus
from tests.helpers.threads import assert_field_and_metadata_patches_both_survive


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_alias_and_metadata_of_a_job_both_survive(finetuning, api_key):
    assert_field_and_metadata_patches_both_survive(
        finetuning,
        f"/api/v1/finetunings/{finetuning.pk}",
        "alias",
        lambda round_: f"job-round-{round_}",
        api_key[1],
    )


def test_a_job_update_refuses_a_field_its_owner_does_not_own(finetuning):
    with pytest.raises(TypeError, match="status"):
        services.finetuning_update(finetuning=finetuning, actor="test", status="succeeded")

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert not FinetuningEvent.objects.filter(finetuning=finetuning, kind="metadata_updated")
