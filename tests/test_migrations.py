"""Migrations: the schema can still change after the worker's partial indexes exist."""

import pytest
from django.db import connection, models

from finetunings.models import Finetuning


@pytest.mark.django_db(transaction=True)
def test_sqlite_can_rebuild_the_jobs_table_with_its_partial_indexes(is_postgres, finetuning):
    # SQLite alters a column by rebuilding the table under a temporary name; an index
    # statement that lost track of its table then points at that name and the rebuild fails
    # ("no such table: main.new__finetunings_finetuning"), so no migration could touch jobs.
    if is_postgres:
        pytest.skip("only SQLite rebuilds a table to alter a column")
    old_field = Finetuning._meta.get_field("alias")
    new_field = models.CharField(max_length=250)
    new_field.set_attributes_from_name("alias")
    new_field.model = Finetuning

    with connection.schema_editor() as editor:
        editor.alter_field(Finetuning, old_field, new_field)
    with connection.schema_editor() as editor:
        editor.alter_field(Finetuning, new_field, old_field)

    assert Finetuning.objects.get(pk=finetuning.pk).alias == finetuning.alias
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, Finetuning._meta.db_table)
    assert "ft_refresh_claim" in indexes
