"""What every service module shares: how problems found in a request are raised."""

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery

from finetunings import errors


def raise_if(problems: dict[str, list[str]]) -> None:
    """Raise ``ValidationFailed`` with the fields that have problems; nothing if none has."""
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise errors.ValidationFailed(problems)


def refuse_unknown_fields(changes: dict, editable: frozenset[str], *, what: str) -> None:
    """An update names only fields its callers may change (never ``status`` and the like).

    A programming error, not a user's: the API and admin only pass their forms' fields.
    """
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise TypeError(f"Not editable on a {what}: {', '.join(unknown)}.")


def update_returning(rows: QuerySet, fields: dict):
    """``rows.update(**fields)`` that answers with the first row as written, or None.

    One statement (``UPDATE ... RETURNING``, on PostgreSQL and SQLite alike) where an
    update followed by a read would be two, and could read someone else's later write.
    """
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(fields)
    sql, params = query.get_compiler(rows.db).as_sql()
    model = rows.model
    columns = ", ".join(
        connections[rows.db].ops.quote_name(field.column) for field in model._meta.concrete_fields
    )
    return next(iter(model.objects.using(rows.db).raw(f"{sql} RETURNING {columns}", params)), None)
