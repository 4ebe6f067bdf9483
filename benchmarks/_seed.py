"""Seed a benchmark database quickly, with no API call: bulk INSERTs of plain rows.

100,000 jobs with 20 golden record ids each by default (the issue's figures), spread over
50 connections and four years, mostly finished; a few hundred running jobs with a provider
job to cancel; one connection whose jobs are all old (the case an index must serve);
training steps for one job in ten and every running one (what a job's progress is read from).
"""

import datetime
import random

STATUSES = ["succeeded"] * 6 + ["failed"] * 2 + ["cancelled"] * 2
CONNECTIONS = 50
RUNNING = 400
BATCH = 2000
STEPS = 30


def seed_jobs(jobs: int) -> dict:
    from django.db import connection, transaction

    from finetunings import services
    from finetunings.models import DatabaseConnection, Finetuning

    rng = random.Random(7)
    connections = [
        services.database_connection_create(
            alias=f"bench{i}",
            dialect="postgresql",
            connection_uri="postgresql://reader:secret@db/shop",
            schema="CREATE TABLE orders (id integer primary key, total numeric);",
        ).pk
        for i in range(CONNECTIONS)
    ]
    now = datetime.datetime.now(datetime.UTC)
    created_at = Finetuning._meta.get_field("created_at")
    created_at.auto_now_add = False  # the seed sets its own history of creation times
    try:
        with transaction.atomic():
            for start in range(0, jobs, BATCH):
                Finetuning.objects.bulk_create(
                    _job(i, connections, now, rng) for i in range(start, min(start + BATCH, jobs))
                )
    finally:
        created_at.auto_now_add = True
    _seed_metrics()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Finetuning._meta.db_table}")
    running = list(
        Finetuning.objects.filter(status="running").order_by("id").values_list("id", flat=True)
    )
    old = DatabaseConnection.objects.get(alias="bench0").pk
    return {"connections": connections, "running": running, "old_connection": old}


def _seed_metrics() -> None:
    from finetunings.models import Finetuning, FinetuningMetric

    trained = Finetuning.objects.filter(alias__endswith="0").values_list("id", "status")
    running = Finetuning.objects.filter(status="running").values_list("id", "status")
    metrics = (
        FinetuningMetric(
            finetuning_id=job_id,
            step=step,
            total_steps=STEPS,
            train_loss=2.0 / step,
        )
        for job_id, status in {*trained, *running}
        for step in (range(1, 4) if status == "running" else (STEPS - 1, STEPS))
    )
    FinetuningMetric.objects.bulk_create(metrics, batch_size=BATCH)


def _job(i: int, connections: list[str], now, rng):
    from finetunings.models import Finetuning

    running = i % (100_000 // RUNNING or 1) == 0
    # bench0's jobs are all older than every other connection's: "newest first within a
    # connection" must not walk the whole table to find them.
    connection = connections[0] if i % 97 == 0 else connections[1 + i % (CONNECTIONS - 1)]
    age = datetime.timedelta(seconds=(i * 1261 % 126_000_000) + 1)
    if connection == connections[0]:
        age += datetime.timedelta(days=1500)
    status = "running" if running else rng.choice(STATUSES)
    return Finetuning(
        db_connection_id=connection,
        alias=f"job-{i}",
        status=status,
        model_provider="openai",
        model_name="gpt-4o-mini-2024-07-18",
        model_parameters={"n_epochs": 3},
        finetuning_file_id=f"file-{i:08d}",
        finetuning_job_id=f"ftjob-bench-{i:08d}",
        provider_status=status,
        golden_records=[f"gr{i:010d}{k:02d}xxxxxxxxxx"[:24] for k in range(20)],
        metadata={"team": f"team-{i % 13}", "ticket": str(i)},
        created_at=now - age,
        finished_at=None if running else now - age + datetime.timedelta(hours=1),
        error="The provider failed the job." if status == "failed" else None,
        trained_tokens=None if running else 120_000 + i,
    )


def golden_records_payload(connection_id: str, count: int, tag: str) -> list[dict]:
    """Golden records as a client would POST them, their SQL short and often repeated.

    Short, because one request may hold at most 200,000 characters of SQL (10,000 records
    of up to 20 characters); repeated, as in real imports (one statement per 100 records).
    """
    return [
        {
            "db_connection_id": connection_id,
            "question": f"How many orders above {i} dollars came from France ({tag})?",
            "sql": f"SELECT * FROM t{i % 100}",
        }
        for i in range(count)
    ]
