"""Benchmark: 1, 2, 4 and 10 worker processes sharing one PostgreSQL database.

Each scenario seeds ACTIVE running jobs (each with a new event at the provider) and QUEUED
jobs, starts N ``manage.py finetuning_worker`` processes against the fake OpenAI server
(tests/fakes/openai_server.py, answering every call after DELAY seconds, as a real
provider roughly does), and prints:

- provider calls for one poll interval (list, retrieve, events: the poll interval is
  longer than the run, so every active job is due exactly once),
- the time until every active job has been polled once, and until every queued job is
  submitted, as ratios against one worker (absolute times move 2x on shared machines),
- duplicates: provider jobs created twice for one job, or jobs polled twice,
- SQL statements per pass over 1,000 unchanged jobs (measured once, in this process).

    BENCHMARK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ft_bench \\
        .venv/bin/python benchmarks/workers.py [--active 3000] [--queued 1000] \\
        [--delay 0.05] [--workers 1,2,4,10]

Never point BENCHMARK_DATABASE_URL at a database you keep: every scenario empties the
job tables.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from _django import PROJECT_DIR, setup

SCENARIO_TIMEOUT_SECONDS = 600


def main(args) -> None:
    if not os.environ.get("BENCHMARK_DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set BENCHMARK_DATABASE_URL to a throw-away PostgreSQL database.")
    workdir = setup()
    sys.path.insert(0, str(PROJECT_DIR))
    from django.conf import settings

    from finetunings.providers import reset_providers
    from tests.fakes.openai_server import FakeOpenAI

    results = []
    for workers in args.workers:
        fake = FakeOpenAI().start()
        fake.answer_delay = args.delay
        try:
            seed(fake, active=args.active, queued=args.queued)
            results.append(run_scenario(fake, workers=workers, args=args, workdir=workdir))
        finally:
            fake.stop()
        print_row(results[-1], results[0])

    fake = FakeOpenAI().start()
    fake.answer_delay = args.delay
    try:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = fake.base_url
        reset_providers()
        statements_per_pass(fake, jobs=1000)
    finally:
        fake.stop()


def seed(fake, *, active: int, queued: int) -> None:
    from django.db import connection

    from finetunings import services
    from finetunings.models import DatabaseConnection, Finetuning, GoldenRecord

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE finetunings_finetuningevent, finetunings_finetuning, "
            "finetunings_providerpause, finetunings_goldenrecord, "
            "finetunings_databaseconnection CASCADE"
        )
    db = services.database_connection_create(
        alias="bench", dialect="postgresql", connection_uri="postgresql://db/shop", schema=""
    )
    records = GoldenRecord.objects.bulk_create(
        GoldenRecord(db_connection=db, question=f"How many orders {i}?", sql="SELECT 1")
        for i in range(10)
    )
    record_ids = [record.pk for record in records]
    assert DatabaseConnection.objects.count() == 1
    rows = []
    for index in range(active):
        remote = fake.add_job(status="running")
        fake.add_event(remote["id"], f"Step 1/100: training loss={index % 7}.0")
        rows.append(
            Finetuning(
                db_connection=db,
                alias=f"active{index}",
                model_name="gpt-4o-mini-2024-07-18",
                golden_records=record_ids,
                status="running",
                provider_status="running",
                finetuning_job_id=remote["id"],
            )
        )
    rows += [
        Finetuning(
            db_connection=db,
            alias=f"queued{index}",
            model_name="gpt-4o-mini-2024-07-18",
            golden_records=record_ids,
        )
        for index in range(queued)
    ]
    Finetuning.objects.bulk_create(rows, batch_size=1000)


def run_scenario(fake, *, workers: int, args, workdir) -> dict:
    from django.db import connection

    from finetunings.models import Finetuning

    env = {
        **os.environ,
        "DATABASE_URL": os.environ["BENCHMARK_DATABASE_URL"],
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake.base_url,
        "FINETUNING_MEDIA_ROOT": str(workdir / "media"),
        "FINETUNING_WORKER_POLL_SECONDS": "3600",  # one interval outlasts the run
        "FINETUNING_TOKEN_COUNTER": "estimate",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    active = Finetuning.objects.filter(alias__startswith="active")
    waiting = Finetuning.objects.filter(alias__startswith="queued", finetuning_job_id__isnull=True)
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "finetuning_worker", "--sleep", "0.5"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    polled_after = submitted_after = None
    try:
        while time.perf_counter() - started < SCENARIO_TIMEOUT_SECONDS:
            now = time.perf_counter() - started
            if polled_after is None and not active.filter(last_polled_at__isnull=True).exists():
                polled_after = now
            if submitted_after is None and not waiting.exists():
                submitted_after = now
            if polled_after is not None and submitted_after is not None:
                break
            time.sleep(0.25)
        time.sleep(1)  # a worker that would poll a job twice has had the time to do it
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        connection.close()

    ours = {job_id for job_id in active.values_list("finetuning_job_id", flat=True)}
    coverage = Counter(arg for op, arg in fake.calls if op == "retrieve")
    for page in fake.listed:
        coverage.update(job_id for job_id in page if job_id in ours)
    created = Counter(
        (job.get("metadata") or {}).get("finetuning_id")
        for job in fake.jobs.values()
        if job.get("metadata")
    )
    calls = Counter(op for op, _ in fake.calls)
    return {
        "workers": workers,
        "refresh_calls": calls["list"] + calls["retrieve"] + calls["events"],
        "calls": dict(calls),
        "polled_after": polled_after,
        "submitted_after": submitted_after,
        "polled_twice": sum(1 for count in coverage.values() if count > 1),
        "not_polled": len(ours - set(coverage)),
        "duplicate_creates": sum(count - 1 for count in created.values() if count > 1),
    }


def print_row(result: dict, single: dict) -> None:
    def ratio(key):
        if result[key] is None or single[key] is None:
            return "timed out"
        return f"{single[key] / result[key]:.2f}x faster"

    print(
        f"{result['workers']:>2} workers: provider calls per interval {result['refresh_calls']} "
        f"({result['refresh_calls'] / single['refresh_calls']:.2f}x one worker; "
        f"{result['calls']}); all active polled {ratio('polled_after')} "
        f"({result['polled_after'] and round(result['polled_after'], 1)} s); all queued "
        f"submitted {ratio('submitted_after')} "
        f"({result['submitted_after'] and round(result['submitted_after'], 1)} s); "
        f"polled twice {result['polled_twice']}, never {result['not_polled']}, duplicate "
        f"provider jobs {result['duplicate_creates']}",
        flush=True,
    )


def statements_per_pass(fake, *, jobs: int) -> None:
    """SQL statements of worker passes over ``jobs`` due jobs whose provider side is unchanged."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from finetunings import worker
    from finetunings.models import Finetuning

    seed(fake, active=jobs, queued=0)
    worker.run_once(worker_id="bench", log=lambda line: None)  # first poll: stores events
    while worker.run_once(worker_id="bench", log=lambda line: None).claimed:
        pass
    Finetuning.objects.update(last_polled_at=None)
    passes, last_pass = 0, 0
    with CaptureQueriesContext(connection) as queries:
        while True:
            before = len(queries.captured_queries)
            report = worker.run_once(worker_id="bench", log=lambda line: None)
            passes += 1
            if not report.claimed:
                last_pass = len(queries.captured_queries) - before
                break
    statements = len(queries.captured_queries)
    over_jobs = statements - last_pass
    print(
        f"SQL: {over_jobs} statements in the {passes - 1} passes over {jobs} unchanged jobs: "
        f"{over_jobs / jobs * 50:.2f} per 50 jobs; plus {last_pass} in the pass that finds "
        f"nothing due (the clean-up and the webhook check a caught-up worker makes): "
        f"{statements / jobs * 50:.2f} per 50 jobs for the whole round",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=3000)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.05, help="the provider's answer time")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2, 4, 10],
    )
    main(parser.parse_args())
