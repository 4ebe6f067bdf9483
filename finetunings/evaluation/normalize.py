"""Exact match of SQL after normalisation, in the connection's dialect, with sqlglot.

Two queries match when they differ only in ways that cannot change their result:
formatting, the case of keywords and unquoted names, aliases (of tables and of output
columns), and the order of commutative parts (the operands of AND and OR, the sides of
``=`` and ``<>``, the values of an ``IN`` list, ``1 < x`` written as ``x > 1``).

sqlglot's optimizer could do more (``normalize`` rewrites boolean logic to a normal form,
``simplify`` folds expressions), but both can grow a query exponentially or change what a
human would call "the same SQL"; this keeps to rewrites that are cheap and always sound.

Unquoted names are compared without regard to case in every dialect, even those (ClickHouse)
where they are case-sensitive: exact match is the lenient fallback score, and the execution
match, where it runs, is the strict one.
"""

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify

from finetunings.validation import SQLGLOT_DIALECTS


class InvalidSQL(ValueError):
    """The text is not one query in the dialect; the message says why, for users."""


class SeveralStatements(InvalidSQL):
    """More than one statement: not one answer, and never executed (a way to hide a write)."""


def sqlglot_dialect(dialect: str) -> str:
    return SQLGLOT_DIALECTS.get(dialect, dialect)


# sqlglot reads some prose as a bare expression ("I cannot" is the column ``i`` aliased
# ``cannot``): no database would run that as a statement.
_NOT_STATEMENTS = (exp.Condition, exp.Alias, exp.Identifier, exp.Tuple)


def parse_query(sql: str, dialect: str) -> exp.Expression:
    """The one statement ``sql`` holds, or ``InvalidSQL`` (two statements, prose, ...)."""
    read = sqlglot_dialect(dialect)
    try:
        statements = [s for s in sqlglot.parse(sql or "", read=read) if s is not None]
    except SqlglotError as exc:
        raise InvalidSQL(f"The SQL does not parse as {dialect}: {_first_line(exc)}") from None
    except (IndexError, AttributeError, ValueError, TypeError, RecursionError):
        # sqlglot raises plain errors on some malformed input.
        raise InvalidSQL(f"The SQL does not parse as {dialect}.") from None
    if not statements:
        raise InvalidSQL("The answer holds no SQL.")
    if len(statements) > 1:
        raise SeveralStatements(f"The answer holds {len(statements)} statements, not one query.")
    if isinstance(statements[0], _NOT_STATEMENTS):
        raise InvalidSQL(f"The answer is not a SQL statement in {dialect}.")
    return statements[0]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def normalized_sql(sql: str, dialect: str) -> str:
    """The canonical text of ``sql``; raises ``InvalidSQL`` when it is not one statement."""
    return canonical_text(parse_query(sql, dialect), dialect)


def canonical_text(tree: exp.Expression, dialect: str) -> str:
    read = sqlglot_dialect(dialect)
    tree = tree.copy()
    try:
        tree = qualify(
            tree,
            dialect=read,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except (SqlglotError, KeyError, ValueError, AttributeError, TypeError, RecursionError):
        # qualify gives up on some valid queries (ambiguous names without a schema): compare
        # them with names as written, which only makes the match stricter.
        tree = normalize_identifiers(tree, dialect=read)
    if isinstance(tree, exp.Query):
        _inline_output_aliases(tree)
    for select in list(tree.find_all(exp.Select)):
        _use_table_names(select)
    for identifier in tree.find_all(exp.Identifier):
        if not identifier.quoted:
            identifier.set("this", identifier.name.lower())
    tree = _bottom_up(tree, _commutative_order)
    return tree.sql(dialect=read, normalize=True)


def exact_match(predicted: str, gold: str, dialect: str) -> bool:
    """Whether both are one query and the same after normalisation (InvalidSQL for the
    predicted SQL propagates: the caller scores it "invalid")."""
    return normalized_sql(predicted, dialect) == normalized_sql(gold, dialect)


def _bottom_up(tree: exp.Expression, rewrite) -> exp.Expression:
    """Apply ``rewrite`` to every node, children first, so a rewritten parent sees its
    rewritten children (sqlglot's ``transform`` goes top-down and skips what it replaced).
    Iterative: a long AND chain is a deep tree."""
    for node in reversed(list(tree.dfs())):
        new = rewrite(node)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _inline_output_aliases(query: exp.Query) -> None:
    """Drop the outermost query's column aliases: they name the result, not change it.

    ORDER BY items that refer to an alias get the aliased expression instead, so
    ``count(*) AS n ... ORDER BY n`` and ``count(*) ... ORDER BY count(*)`` agree.
    """
    select = query if isinstance(query, exp.Select) else None
    if select is None:
        return
    aliased = {
        projection.alias.lower(): projection.this
        for projection in select.expressions
        if isinstance(projection, exp.Alias)
    }
    order = select.args.get("order")
    if order is not None:
        for ordered in order.expressions:
            target = ordered.this
            if isinstance(target, exp.Column) and not target.table:
                found = aliased.get(target.name.lower())
                if found is not None:
                    target.replace(found.copy())
    select.set(
        "expressions",
        [
            projection.this if isinstance(projection, exp.Alias) else projection
            for projection in select.expressions
        ],
    )


def _use_table_names(select: exp.Select) -> None:
    """Rename each table alias of this SELECT to the table's own name, when that is unique.

    ``FROM orders o WHERE o.id = 1`` and ``FROM orders WHERE orders.id = 1`` then agree.
    """
    tables = [
        table
        for table in select.find_all(exp.Table)
        if table.parent_select is select and table.name
    ]
    names = [table.name.lower() for table in tables]
    renames = {}
    for table, name in zip(tables, names, strict=True):
        if names.count(name) != 1 or not table.alias:
            continue
        renames[table.alias.lower()] = name
        table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
    own_columns = [
        column for column in select.find_all(exp.Column) if column.parent_select is select
    ]
    for column in own_columns:
        if column.table and column.table.lower() in renames:
            column.set("table", exp.to_identifier(renames[column.table.lower()]))
    if len(tables) == 1 and not select.args.get("joins"):
        # One table: ``orders.total`` and ``total`` are the same column.
        for column in own_columns:
            if column.table.lower() == names[0] and not column.args.get("db"):
                column.set("table", None)


_SYMMETRIC = (exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ)
_FLIPPED = {exp.LT: exp.GT, exp.GT: exp.LT, exp.LTE: exp.GTE, exp.GTE: exp.LTE}


def _commutative_order(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.And | exp.Or):
        if type(node.parent) is type(node):
            return node  # the chain's top node sorts the whole chain once
        operands = sorted(node.flatten(), key=lambda part: part.sql())
        return exp.and_(*operands) if isinstance(node, exp.And) else exp.or_(*operands)
    if isinstance(node, _SYMMETRIC):
        left, right = sorted((node.left, node.right), key=lambda part: part.sql())
        return type(node)(this=left.copy(), expression=right.copy())
    flip = type(node) in _FLIPPED and isinstance(node.left, exp.Literal)
    if flip and not isinstance(node.right, exp.Literal):
        return _FLIPPED[type(node)](this=node.right.copy(), expression=node.left.copy())
    if isinstance(node, exp.Ordered) and not node.args.get("desc"):
        node.set("desc", None)  # ASC is the default: written or not, the same order
    if isinstance(node, exp.In) and node.expressions:
        node.set("expressions", sorted(node.expressions, key=lambda part: part.sql()))
    return node
