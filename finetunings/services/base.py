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
    The row comes back as ``rows`` would read it: without the fields they defer, with their
    annotations (subqueries on the row, such as a job's progress).
    """
    annotations = rows.query.annotations
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(fields)
    query.annotations = {}
    compiler = query.get_compiler(rows.db)
    sql, params = compiler.as_sql()
    model, connection = rows.model, connections[rows.db]
    names, defer = rows.query.deferred_loading
    loaded = [
        field
        for field in model._meta.concrete_fields
        if field.primary_key or (field.name in names) != defer
    ]
    columns = [connection.ops.quote_name(field.column) for field in loaded]
    params = list(params)
    for name, annotation in annotations.items():
        annotation_sql, annotation_params = compiler.compile(annotation)
        columns.append(f"{annotation_sql} AS {connection.ops.quote_name(name)}")
        params.extend(annotation_params)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {', '.join(columns)}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    # Built as a query's rows are (a raw() query costs as much again, in mapping columns).
    selected = [field.get_col(model._meta.db_table) for field in loaded]
    selected += annotations.values()
    [values] = compiler.apply_converters([row], compiler.get_converters(selected))
    instance = model.from_db(rows.db, [field.attname for field in loaded], values[: len(loaded)])
    for name, value in zip(annotations, values[len(loaded) :], strict=True):
        setattr(instance, name, value)
    return instance
