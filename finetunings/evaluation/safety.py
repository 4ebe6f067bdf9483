"""Whether a query may be executed on a user's database: one read-only SELECT, nothing else.

Checked on sqlglot's parsed tree, never on the text (a comment or a string literal cannot
hide a statement from a tree, and a keyword inside a string cannot trip it). This is the
first of three locks: the query then runs in a read-only transaction (PostgreSQL) or on a
file opened read-only with an authorizer (SQLite), with a timeout and a row cap.

Refused: anything but a query at the root (DELETE, UPDATE, INSERT, DROP, COPY, PRAGMA,
ATTACH, SET, commands sqlglot cannot read), ``SELECT ... INTO`` (creates a table), row
locks (``FOR UPDATE``), a data change anywhere in the tree (a CTE that deletes), and calls
of functions that write, reach outside the database or stop other sessions.
"""

from sqlglot import exp

from finetunings.evaluation.normalize import InvalidSQL, SeveralStatements, parse_query

NOT_A_QUERY_MESSAGE = "Only a single SELECT may be executed; this is {kind}."
SEVERAL_STATEMENTS_MESSAGE = "Only a single SELECT may be executed; {message}"
WRITES_MESSAGE = "The query contains {kind}, which may change the database: not executed."
INTO_MESSAGE = "SELECT ... INTO creates a table: not executed."
LOCK_MESSAGE = "The query locks rows (FOR UPDATE/SHARE): not executed."
FUNCTION_MESSAGE = "The query calls {name}(), which is not allowed: not executed."

# Nodes that change data or schema, or run something else, wherever they sit in the tree.
_WRITING_NODES = (
    exp.DML,
    exp.DDL,
    exp.Drop,
    exp.TruncateTable,
    exp.Command,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Set,
    exp.Transaction,
    exp.Grant,
    exp.Analyze,
)

# Functions refused by name (lower case): writers (sequences, large objects, settings,
# advisory locks held past the query), reaches outside the database (files, other
# databases, programs), and calls that disturb other sessions. pg_sleep is not here: the
# statement timeout stops it like any slow query.
DENIED_FUNCTIONS = frozenset(
    {
        # PostgreSQL
        "nextval",
        "setval",
        "set_config",
        "txid_current",
        "pg_current_xact_id",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_promote",
        "pg_notify",
        "pg_logical_emit_message",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "table_to_xml",
        "table_to_xml_and_xmlschema",
        "database_to_xml",
        "schema_to_xml",
        # SQLite
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
    }
)
DENIED_PREFIXES = ("lo_", "dblink", "pg_advisory", "pg_try_advisory", "pg_replication_")


class QueryRefused(Exception):
    """The SQL parses but may not be executed; ``message`` says why, for users."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def _denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        name, what = str(node.this).upper(), "command"
    else:
        name, what = type(node).__name__.upper(), "statement"
    article = "an" if name[:1] in "AEIOU" else "a"
    return f"{article} {name} {what}"


def check_read_only(tree: exp.Expression) -> None:
    """Raise ``QueryRefused`` unless ``tree`` is one SELECT that only reads."""
    if not isinstance(tree, exp.Query):
        raise QueryRefused(NOT_A_QUERY_MESSAGE.format(kind=_kind(tree)))
    for node in tree.walk():
        if isinstance(node, _WRITING_NODES):
            raise QueryRefused(WRITES_MESSAGE.format(kind=_kind(node)))
        if isinstance(node, exp.Into):
            raise QueryRefused(INTO_MESSAGE)
        if isinstance(node, exp.Lock):
            raise QueryRefused(LOCK_MESSAGE)
        if isinstance(node, exp.Func) and _denied(_function_name(node)):
            raise QueryRefused(FUNCTION_MESSAGE.format(name=_function_name(node)))


def read_only_query(sql: str, dialect: str) -> exp.Expression:
    """The parsed query when it may run; ``InvalidSQL`` or ``QueryRefused`` otherwise."""
    try:
        tree = parse_query(sql, dialect)
    except SeveralStatements as exc:
        raise QueryRefused(SEVERAL_STATEMENTS_MESSAGE.format(message=exc)) from None
    check_read_only(tree)
    return tree


__all__ = ["InvalidSQL", "QueryRefused", "check_read_only", "read_only_query"]
