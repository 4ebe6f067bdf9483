"""A small shop database with ten golden records, and what two models answer about it.

The fine-tuned model answers 8 of the 10 questions right (some in other words than the
gold SQL: aliases, another order of conditions, a different but equivalent query) and the
base model 5; their wrong answers cover each outcome (wrong result, prose, a write, an
error). The same data is loaded into an SQLite file and a PostgreSQL database.
"""

import sqlite3
from dataclasses import dataclass

from django.conf import settings

from finetunings.evaluation import scoring

FINE_TUNED_MODEL = "ft:gpt-4o-mini-2024-07-18:acme::evalcore"
BASE_MODEL = "gpt-4o-mini-2024-07-18"

SCHEMA = """
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, country text NOT NULL);
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    total integer NOT NULL,
    status text NOT NULL
);
"""
ROWS = """
INSERT INTO customers VALUES (1, 'Ada', 'FR'), (2, 'Bob', 'US'), (3, 'Chloe', 'FR'),
    (4, 'Dan', 'DE');
INSERT INTO orders VALUES (1, 1, 120, 'shipped'), (2, 1, 40, 'pending'),
    (3, 2, 300, 'shipped'), (4, 3, 80, 'cancelled'), (5, 1, 15, 'shipped');
"""


@dataclass(frozen=True)
class Case:
    question: str
    gold: str
    fine_tuned: str
    fine_tuned_expected: tuple[bool, str]  # (exact match, outcome)
    base: str
    base_expected: tuple[bool, str]


M, MM, INV, REF, ERR = (
    scoring.MATCH,
    scoring.MISMATCH,
    scoring.INVALID,
    scoring.REFUSED,
    scoring.EXECUTION_ERROR,
)
PROSE = "I am sorry, I cannot answer that from the schema."

CASES = [
    Case(
        "How many customers are there?",
        "SELECT count(*) FROM customers",
        "select COUNT(*) as customer_count from customers c",
        (True, M),
        "SELECT count(*) FROM customers",
        (True, M),
    ),
    Case(
        "Which customers live in France?",
        "SELECT name FROM customers WHERE country = 'FR'",
        "SELECT c.name FROM customers AS c WHERE 'FR' = c.country",
        (True, M),
        "SELECT name FROM customers WHERE country = 'FR'",
        (True, M),
    ),
    Case(
        "What is the total of all orders?",
        "SELECT sum(total) FROM orders",
        "SELECT SUM(total) FROM orders",
        (True, M),
        "SELECT sum(orders.total) AS s FROM orders",
        (True, M),
    ),
    Case(
        "Which orders are above 100?",
        "SELECT id FROM orders WHERE total > 100",
        "SELECT id FROM orders WHERE 100 < total",
        (True, M),
        "SELECT id FROM orders WHERE total >= 101",
        (False, M),
    ),
    Case(
        "List the customers by name.",
        "SELECT name FROM customers ORDER BY name",
        "SELECT name FROM customers ORDER BY name ASC",
        (True, M),
        "SELECT name FROM customers ORDER BY 1",
        (True, M),
    ),
    Case(
        "How many orders are there in each status?",
        "SELECT status, count(*) FROM orders GROUP BY status",
        "SELECT status, COUNT(id) FROM orders GROUP BY status",
        (False, M),
        "SELECT status, count(*) FROM orders WHERE status = 'shipped' GROUP BY status",
        (False, MM),
    ),
    Case(
        "What is the largest order total?",
        "SELECT max(total) FROM orders",
        "SELECT total FROM orders ORDER BY total DESC LIMIT 1",
        (False, M),
        "DELETE FROM orders WHERE total < 300",
        (False, REF),
    ),
    Case(
        "Which customers have never ordered?",
        "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
        "SELECT c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
        "WHERE o.id IS NULL",
        (False, M),
        "SELECT name FROM customers WHERE order_count = 0",
        (False, ERR),
    ),
    Case(
        "Which orders of customer 1 were shipped?",
        "SELECT id FROM orders WHERE customer_id = 1 AND status = 'shipped'",
        "SELECT id FROM orders WHERE customer_id = 1 AND status = 'pending'",
        (False, MM),
        PROSE,
        (False, INV),
    ),
    Case(
        "What is the average order total?",
        "SELECT avg(total) FROM orders",
        PROSE,
        (False, INV),
        "SELECT avg(total) FROM orders WHERE status = 'shipped'",
        (False, MM),
    ),
]


def create_sqlite_database(path) -> str:
    """The shop in an SQLite file at ``path``; returns its connection URI."""
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA + ROWS + "CREATE TABLE sentinel (id integer);")
        connection.execute("INSERT INTO sentinel VALUES (1)")
    connection.close()
    return f"sqlite:///{path}"


def postgres_server() -> dict:
    database = settings.DATABASES["default"]
    return {
        "host": database.get("HOST") or "127.0.0.1",
        "port": database.get("PORT") or 5432,
        "user": database.get("USER") or "postgres",
        "password": database.get("PASSWORD") or None,
    }


def _postgres_uri(name: str) -> str:
    server = postgres_server()
    password = f":{server['password']}" if server["password"] else ""
    return f"postgresql://{server['user']}{password}@{server['host']}:{server['port']}/{name}"


def create_postgres_database(name: str) -> str:
    """The shop in a new PostgreSQL database ``name`` (dropped first); returns its URI."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server()) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True, **postgres_server()) as connection:
        connection.execute(SCHEMA + ROWS)
        connection.execute("CREATE TABLE sentinel (id integer); INSERT INTO sentinel VALUES (1)")
        connection.execute("CREATE SEQUENCE counter")
    return _postgres_uri(name)


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server()) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_counts(run_sql) -> dict[str, int]:
    """Rows of each table, read with ``run_sql(sql) -> rows`` (to show nothing changed)."""
    return {
        table: run_sql(f"SELECT count(*) FROM {table}")[0][0]
        for table in ("customers", "orders", "sentinel")
    }
