"""Benchmark: the worker's four queries against a history of 1M finished jobs (PostgreSQL).

Seeds FINISHED finished jobs with one INSERT ... SELECT generate_series (seconds, not
minutes), plus a few thousand active and queued ones, then prints the plan and the
execution time of each worker query (run with EXPLAIN ANALYZE in a transaction that is
rolled back, so nothing is claimed): the submission claim, the refresh claim and the two
orphan sweeps. Each should use its partial index and touch only the rows it can return.

    BENCHMARK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ft_bench \\
        .venv/bin/python benchmarks/indexes.py [FINISHED]
"""

import os
import sys

from _django import PROJECT_DIR, setup


def main(finished: int) -> None:
    if not os.environ.get("BENCHMARK_DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set BENCHMARK_DATABASE_URL to a throw-away PostgreSQL database.")
    setup()
    sys.path.insert(0, str(PROJECT_DIR))
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from finetunings import services, worker
    from tests.fakes.memory_provider import InMemoryProvider

    seed(connection, finished=finished)
    provider = InMemoryProvider()
    queries = {
        "submission claim": lambda: services.finetuning_claim_for_submission(
            worker_id="bench", limit=10
        ),
        "refresh claim": lambda: services.finetuning_claim_for_refresh(
            worker_id="bench", provider="openai", limit=200
        ),
        "orphan sweeps": lambda: worker.stop_orphaned_provider_jobs(
            provider=provider, log=lambda line: None
        ),
    }
    for label, run in queries.items():
        with CaptureQueriesContext(connection) as captured, transaction.atomic():
            run()
            transaction.set_rollback(True)
        statements = [
            query["sql"]
            for query in captured.captured_queries
            if query["sql"].lstrip().upper().startswith(("SELECT", "UPDATE"))
        ]
        for index, sql in enumerate(statements, start=1):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
                transaction.set_rollback(True)
            name = label if len(statements) == 1 else f"{label} ({index})"
            print(f"--- {name}")
            for line in plan:
                print("   ", line)


_FINISHED_STATUS = "(ARRAY['succeeded', 'failed', 'cancelled'])[1 + i %% 3]"
# Each group of seeded jobs: its id prefix, then the SQL of the columns that set it apart.
_COLUMNS = ("status", "job_id", "provider_status", "finished_at", "last_polled_at")
_COHORTS = {
    "finished": (
        _FINISHED_STATUS,
        "'ftjob-old' || i",
        _FINISHED_STATUS,
        "now()",
        "now() - interval '1 day'",
    ),
    "active": (
        "'running'",
        "'ftjob-active' || i",
        "'running'",
        "NULL",
        "now() - (i %% 120 || ' seconds')::interval",
    ),
    "queued": ("'queued'", "NULL", "NULL", "NULL", "NULL"),
}


def seed(connection, *, finished: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE finetunings_finetuningevent, finetunings_finetuning, "
            "finetunings_providerpause, finetunings_goldenrecord, "
            "finetunings_databaseconnection CASCADE"
        )
        cursor.execute(
            "INSERT INTO finetunings_databaseconnection "
            "(id, alias, dialect, connection_uri_encrypted, schema, created_at, updated_at) "
            "VALUES ('bench', 'bench', 'postgresql', '', '', now(), now())"
        )
        insert = """
            INSERT INTO finetunings_finetuning (
                id, db_connection_id, alias, status, model_provider, model_name,
                model_parameters, golden_records, created_at, updated_at, attempts,
                finetuning_job_id, provider_status, finished_at, last_polled_at
            )
            SELECT substr(md5(%s || i::text), 1, 24), 'bench', 'job' || i, {status},
                'openai', 'gpt-4o-mini-2024-07-18', '{{}}', '[]',
                now() - (i || ' seconds')::interval, now(), 0,
                {job_id}, {provider_status}, {finished_at}, {last_polled_at}
            FROM generate_series(1, %s) AS i
        """
        sizes = {"finished": finished, "active": 3000, "queued": 1000}
        for prefix, values in _COHORTS.items():
            columns = dict(zip(_COLUMNS, values, strict=True))
            cursor.execute(insert.format(**columns), [prefix, sizes[prefix]])
        cursor.execute("ANALYZE finetunings_finetuning")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
