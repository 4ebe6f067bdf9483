"""The services' contracts: what an update may change, and what a cancel says it did."""

import pytest

from finetunings import services
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus

pytestmark = pytest.mark.django_db


def test_a_job_update_refuses_a_field_its_owner_does_not_own(finetuning):
    with pytest.raises(TypeError, match="status"):
        services.finetuning_update(finetuning=finetuning, actor="test", status="succeeded")

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert not FinetuningEvent.objects.filter(finetuning=finetuning, kind="metadata_updated")


def test_connection_and_golden_record_updates_refuse_fields_they_do_not_own(
    connection, golden_records
):
    with pytest.raises(TypeError, match="deleted_at"):
        services.database_connection_update(connection=connection, deleted_at=None)
    with pytest.raises(TypeError, match="external_id"):
        services.golden_record_update(golden_record=golden_records[0], external_id="x")


def test_a_cancel_says_it_cancelled_the_job_and_a_second_one_that_it_did_not(finetuning):
    first = services.finetuning_cancel(finetuning=finetuning, actor="alice")
    second = services.finetuning_cancel(finetuning=finetuning, actor="bob")

    assert first.cancelled_now is True
    assert first.finetuning.status == FinetuningStatus.CANCELLED
    assert second.cancelled_now is False
    assert second.finetuning.cancelled_by == "alice"
    assert Finetuning.objects.get(pk=finetuning.pk).cancelled_by == "alice"
