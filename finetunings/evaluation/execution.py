"""Running a checked SELECT on a user's PostgreSQL or SQLite database, read-only.

The SQL reaching here has passed ``safety.check_read_only``; the database enforces the
same thing again, so a query the parser misjudged still cannot write:
- PostgreSQL: every query runs in its own ``READ ONLY`` transaction (also the session's
  default) with ``statement_timeout``, and is rolled back;
- SQLite: the file is opened with ``mode=ro``, an authorizer allows only reading, and a
  progress handler interrupts a query past the timeout.
At most ``row_cap`` rows are read back: more is an error, not a result to compare.
"""

import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from finetunings.evaluation.safety import DENIED_FUNCTIONS, DENIED_PREFIXES
from finetunings.validation import ConnectionURIInvalid, parse_connection_uri

EXECUTABLE_DIALECTS = ("postgresql", "sqlite")
TOO_MANY_ROWS_MESSAGE = "The query returned more than {cap:,} rows; results are not compared."
TIMEOUT_MESSAGE = "The query ran longer than {seconds:g} seconds and was stopped."
UNREACHABLE_MESSAGE = "The database could not be reached: {error}"
NO_SQLITE_FILE_MESSAGE = "The connection names no SQLite database file."
# The progress handler runs every this many SQLite virtual-machine instructions.
SQLITE_PROGRESS_STEPS = 10_000


class ExecutionFailed(Exception):
    """The database refused or failed the query; ``message`` is fit to show a user."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class DatabaseUnreachable(ExecutionFailed):
    """No query could run at all: says nothing about the query, so nothing is scored."""


@dataclass(frozen=True)
class ExecutionLimits:
    timeout_seconds: float
    row_cap: int
    connect_timeout_seconds: int = 5


def _fetch_capped(cursor, cap: int) -> list[tuple]:
    rows = cursor.fetchmany(cap + 1)
    if len(rows) > cap:
        raise ExecutionFailed(TOO_MANY_ROWS_MESSAGE.format(cap=cap))
    return [tuple(row) for row in rows]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresExecutor:
    def __init__(self, uri: str, limits: ExecutionLimits):
        self._uri = uri
        self._limits = limits
        self._connection = None

    def _connect(self):
        import psycopg

        scheme, _, rest = self._uri.partition("://")
        timeout_ms = int(self._limits.timeout_seconds * 1000)
        try:
            # The driver part of the scheme (postgresql+psycopg2) is SQLAlchemy's, not libpq's.
            return psycopg.connect(
                f"postgresql://{rest}",
                connect_timeout=self._limits.connect_timeout_seconds,
                options=f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
                application_name="finetunings-evaluation",
                autocommit=False,
            )
        except (psycopg.Error, ValueError) as exc:
            raise DatabaseUnreachable(UNREACHABLE_MESSAGE.format(error=_first_line(exc))) from None

    def run(self, sql: str) -> list[tuple]:
        import psycopg
        from psycopg import errors

        if self._connection is None or self._connection.closed:
            self._connection = self._connect()
        connection = self._connection
        timeout_ms = int(self._limits.timeout_seconds * 1000)
        try:
            with connection.cursor() as setup:
                setup.execute("SET TRANSACTION READ ONLY")
                setup.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            # A server-side cursor (DECLARE ... CURSOR FOR, which takes only a query): the
            # database sends just the rows fetched, so a huge result never crosses the wire.
            # No parameters, so the text is sent as it is.
            with connection.cursor(name="finetunings_evaluation") as cursor:
                cursor.execute(sql)
                return _fetch_capped(cursor, self._limits.row_cap)
        except errors.QueryCanceled:
            raise ExecutionFailed(
                TIMEOUT_MESSAGE.format(seconds=self._limits.timeout_seconds)
            ) from None
        except psycopg.OperationalError as exc:
            if connection.closed:
                raise DatabaseUnreachable(
                    UNREACHABLE_MESSAGE.format(error=_first_line(exc))
                ) from None
            raise ExecutionFailed(_first_line(exc)) from None
        except psycopg.Error as exc:
            raise ExecutionFailed(_first_line(exc)) from None
        finally:
            if not connection.closed:
                connection.rollback()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def _sqlite_authorizer(action, arg1, arg2, database, trigger):
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY  # writes, PRAGMA, ATTACH, transactions, ...


def sqlite_path(uri: str) -> str:
    """The file a ``sqlite:///relative`` or ``sqlite:////absolute`` URI names."""
    try:
        database = parse_connection_uri(uri).database
    except ConnectionURIInvalid:
        database = ""
    path = unquote(database[1:])  # the slash after the (empty) host is not part of the path
    if not path or path == ":memory:":
        raise DatabaseUnreachable(NO_SQLITE_FILE_MESSAGE)
    return path


class SqliteExecutor:
    def __init__(self, uri: str, limits: ExecutionLimits):
        self._uri = uri
        self._limits = limits
        self._connection = None

    def _connect(self) -> sqlite3.Connection:
        try:
            # mode=ro: never created or written, whatever reaches it.
            connection = sqlite3.connect(
                f"file:{quote(sqlite_path(self._uri))}?mode=ro",
                uri=True,
                timeout=self._limits.connect_timeout_seconds,
                check_same_thread=False,
            )
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise DatabaseUnreachable(UNREACHABLE_MESSAGE.format(error=_first_line(exc))) from None
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_sqlite_authorizer)
        return connection

    def run(self, sql: str) -> list[tuple]:
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        deadline = time.monotonic() + self._limits.timeout_seconds
        connection.set_progress_handler(
            lambda: 1 if time.monotonic() > deadline else 0, SQLITE_PROGRESS_STEPS
        )
        try:
            cursor = connection.execute(sql)
            return _fetch_capped(cursor, self._limits.row_cap)
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline and "interrupt" in str(exc).lower():
                raise ExecutionFailed(
                    TIMEOUT_MESSAGE.format(seconds=self._limits.timeout_seconds)
                ) from None
            raise ExecutionFailed(_first_line(exc)) from None
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise ExecutionFailed(_first_line(exc)) from None
        finally:
            connection.set_progress_handler(None, 0)
            connection.rollback()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def executor_for(dialect: str, uri: str, limits: ExecutionLimits):
    """An executor for the connection's database (opened on first use; ``close()`` it)."""
    if dialect == "postgresql":
        return PostgresExecutor(uri, limits)
    if dialect == "sqlite":
        return SqliteExecutor(uri, limits)
    raise ValueError(f"{dialect} queries are not executed")
