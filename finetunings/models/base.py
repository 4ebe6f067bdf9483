"""What every table of the app shares: opaque ids, stored JSON, an index SQLite can build."""

import json
import secrets

from django.db import models
from django.db.backends.ddl_references import Statement
from django.db.models.fields.json import KeyTransform

from finetunings.hygiene import StoredJSONDecoder

_DECODER = StoredJSONDecoder()


def new_id() -> str:
    return secrets.token_hex(12)


class StoredJSONField(models.JSONField):
    """Django's JSONField with ``StoredJSONDecoder``, read with one shared decoder.

    Django's own field builds a decoder object for every value it reads: a third of the
    time a page of jobs spends turning its rows into data. The column and every migration
    are Django's JSONField's (``deconstruct`` says so), so this changes no schema.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("decoder", StoredJSONDecoder)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs

    def from_db_value(self, value, expression, connection):
        if self.decoder is not StoredJSONDecoder or not isinstance(value, str):
            return super().from_db_value(value, expression, connection)
        if isinstance(expression, KeyTransform):
            return super().from_db_value(value, expression, connection)
        try:
            return _DECODER.decode(value)
        except json.JSONDecodeError:
            return value  # as Django's field does


class NullsFirstIndex(models.Index):
    """An index with ``NULLS FIRST`` columns, also on SQLite.

    SQLite refuses the modifier in an index but sorts NULLs first in ascending order anyway,
    so there it is left out and the index serves the same ``ORDER BY``.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        statement = super().create_sql(model, schema_editor, using=using, **kwargs)
        if schema_editor.connection.vendor == "sqlite":
            # Still a Statement, not a string: SQLite rebuilds a table under a temporary name
            # and then renames the table references of its pending index statements.
            return _WithoutNullsFirst(statement.template, **statement.parts)
        return statement


class _WithoutNullsFirst(Statement):
    def __str__(self) -> str:
        return super().__str__().replace(" NULLS FIRST", "")
