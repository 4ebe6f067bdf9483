"""Reads compiled to SQL once per connection, then run with new values: the hottest lookups.

Django builds and compiles a queryset on every evaluation. For a query that reads one row
(a job by its id for ``GET /finetunings/{id}``, an API key by its hash on every request),
that costs more than running it. A ``PreparedRead`` builds its ``values()`` queryset once
per database connection (Django keeps one per thread, so no compiler is shared between
threads) with a marker in place of each value, keeps the SQL and the compiler, and
from then on only runs the SQL with the values put in. Its rows go through the same
compiler's converters (``from_db_value``, the backend's own), so they are what the
queryset would have given, key for key.
"""

import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: dict[str, int]  # parameter name -> its position in params
    compiler: object
    converters: dict
    columns: tuple[str, ...]


class PreparedRead:
    """``build(**values)``, a ``values()`` queryset, compiled once per database connection.

    Each name in ``names`` must reach the SQL as one parameter, unchanged (an exact
    lookup such as ``pk=value``); that is checked when the query is compiled.
    """

    def __init__(self, build: Callable[..., QuerySet], *names: str):
        self._build = build
        self._names = names
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values) -> list[dict]:
        connection = connections[using]
        compiled = self._compiled.get(connection) or self._compile(connection)
        params = list(compiled.params)
        for name, slot in compiled.slots.items():
            params[slot] = values[name]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        if compiled.converters:
            fetched = compiled.compiler.apply_converters(fetched, compiled.converters)
        return [dict(zip(compiled.columns, row, strict=True)) for row in fetched]

    def first(self, using: str = DEFAULT_DB_ALIAS, **values) -> dict | None:
        found = self.rows(using, **values)
        return found[0] if found else None

    def _compile(self, connection) -> _Compiled:
        using = connection.alias
        markers = {name: f"prepared-{name}-{uuid.uuid4().hex}" for name in self._names}
        query = self._build(**markers).using(using).query
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = {}
        for name, marker in markers.items():
            found = [index for index, param in enumerate(params) if param == marker]
            if len(found) != 1:
                raise ImproperlyConfigured(f"{name!r} is not one plain parameter of the query")
            slots[name] = found[0]
        fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters(fields),
            columns=_columns(query),
        )
        self._compiled[connection] = compiled
        return compiled


def _columns(query) -> tuple[str, ...]:
    # The keys of a row, in the order of the SQL's columns (as ``ValuesIterable`` names them).
    if query.selected:
        return tuple(query.selected)
    return (*query.extra_select, *query.values_select, *query.annotation_select)
