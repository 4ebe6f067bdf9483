"""Benchmark: build the training file of a job with 10,000 and 100,000 golden records.

Prints the time to write the JSONL, and the peak Python memory (tracemalloc) above the
baseline taken just before building, which must stay flat as the number of records grows:
the file is streamed to disk, never held in memory. A second figure includes loading the
job row itself, whose list of golden-record ids grows with the job (~100 bytes per id).

    .venv/bin/python benchmarks/training_file.py [COUNT ...]
"""

import sys
import tempfile
import time
import tracemalloc

from _django import setup


def make_job(count: int):
    from finetunings import services
    from finetunings.models import Finetuning, GoldenRecord

    connection = services.database_connection_create(
        alias=f"bench{count}",
        dialect="postgresql",
        connection_uri="postgresql://reader:secret@db/shop",
        schema="CREATE TABLE orders (id integer primary key, customer text, total numeric);\n"
        "CREATE TABLE customers (id integer primary key, name text, country text);",
    )
    # Straight into the table: the API would also parse each SQL, which is not measured here.
    GoldenRecord.objects.bulk_create(
        (
            GoldenRecord(
                db_connection=connection,
                question=f"How many orders above {i} dollars came from customers in France?",
                sql="SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer "
                f"WHERE o.total > {i} AND c.country = 'FR'",
            )
            for i in range(count)
        ),
        batch_size=2000,
    )
    job = services.finetuning_create(db_connection_id=connection.pk, actor="benchmark")
    return Finetuning.objects.get(pk=job.pk).pk


def measure(job_id: str) -> dict:
    from finetunings import training_data
    from finetunings.models import Finetuning

    job = Finetuning.objects.get(pk=job_id)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        summary = training_data.write_training_file(finetuning=job, out=out)
        seconds = time.perf_counter() - started

    tracemalloc.start()
    job = Finetuning.objects.get(pk=job_id)
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    with tempfile.TemporaryFile() as out:
        training_data.write_training_file(finetuning=job, out=out)
    _, peak = tracemalloc.get_traced_memory()
    del job
    tracemalloc.stop()

    tracemalloc.start()
    baseline_without_job, _ = tracemalloc.get_traced_memory()
    job = Finetuning.objects.get(pk=job_id)
    with tempfile.TemporaryFile() as out:
        training_data.write_training_file(finetuning=job, out=out)
    _, peak_with_job = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "bytes": summary.bytes,
        "tokens": summary.tokens,
        "counting": summary.token_counting,
        "peak_mib": (peak - baseline) / 2**20,
        "peak_with_job_mib": (peak_with_job - baseline_without_job) / 2**20,
    }


def main(counts: list[int]) -> None:
    setup()
    print(f"{'records':>8} {'seconds':>8} {'file MiB':>9} {'peak MiB':>9} {'+job row':>9}  tokens")
    for count in counts:
        job_id = make_job(count)
        figures = measure(job_id)
        print(
            f"{count:>8} {figures['seconds']:>8.2f} {figures['bytes'] / 2**20:>9.1f} "
            f"{figures['peak_mib']:>9.2f} {figures['peak_with_job_mib']:>9.2f}  "
            f"{figures['tokens']} ({figures['counting']})"
        )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10_000, 100_000])
