"""``update_returning``: one UPDATE that answers with the row as its queryset would read it."""

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings import selectors
from finetunings.models import Finetuning
from finetunings.services.base import update_returning


def test_the_row_comes_back_as_written_with_the_querysets_annotations(finetuning):
    finetuning.metrics.create(step=4, total_steps=8)
    rows = selectors.finetuning_with_progress().defer(*Finetuning.LONG_FIELDS)

    with CaptureQueriesContext(db_connection) as queries:
        job = update_returning(rows.filter(pk=finetuning.pk), {"alias": "renamed"})

    assert len(queries) == 1
    assert (job.pk, job.alias, job.status) == (finetuning.pk, "renamed", finetuning.status)
    assert (job.progress_step, job.progress_total_steps) == (4, 8)
    assert job.get_deferred_fields() == set(Finetuning.LONG_FIELDS)
    assert job.created_at == finetuning.created_at  # converted as a query's rows are
    assert Finetuning.objects.get(pk=finetuning.pk).alias == "renamed"


def test_no_matching_row_is_none_and_writes_nothing(finetuning):
    rows = Finetuning.objects.filter(pk=finetuning.pk, status="running")

    assert update_returning(rows, {"alias": "renamed"}) is None
    assert Finetuning.objects.get(pk=finetuning.pk).alias == finetuning.alias
