"""What every table of the app shares: opaque ids, and an index SQLite can also build."""

import secrets

from django.db import models
from django.db.backends.ddl_references import Statement


def new_id() -> str:
    return secrets.token_hex(12)


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
