"""Benchmark: the hot paths of issue 11 against their floors, measured interleaved.

For each path: the project's median (the real view, through Django's test client and all
its middleware), the floor's median (benchmarks/_floors.py: one raw query and json.dumps,
UPDATE ... RETURNING for cancel, json.loads + COPY for a bulk import, a plain loop for the
training file, the admin page's own SQL for the admin), their ratio, and the number of
queries the project ran. Project and floor runs alternate, so a busy machine slows both.

    .venv/bin/python benchmarks/hot_paths.py [--quick] [--profile PATH_NAME]
    BENCHMARK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ft_hot_bench \\
        .venv/bin/python benchmarks/hot_paths.py

--quick seeds 5,000 jobs and runs a few iterations (a smoke test, for CI); the default
seeds 100,000 jobs with 20 golden record ids each. --profile NAME prints where the
project's time goes on that path (cProfile, top functions by own time).
"""

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass

from _django import setup

os.environ.setdefault("FINETUNING_THROTTLE_API_KEY_RATE", "1000000/min")
os.environ.setdefault("FINETUNING_THROTTLE_STAFF_RATE", "1000000/min")


@dataclass
class Result:
    name: str
    project: float
    floor: float
    queries: int
    note: str = ""

    def line(self) -> str:
        ratio = self.project / self.floor if self.floor else float("nan")
        return (
            f"{self.name:<52} {self.project * 1000:>10.2f} {self.floor * 1000:>10.2f} "
            f"{ratio:>7.2f}x {self.queries:>8}  {self.note}"
        )


def interleaved(project, floor, iterations: int, reset=None) -> tuple[float, float]:
    """Medians of ``project(i)`` and ``floor(i)``, run alternately (after one warm-up).

    ``reset``, when given, runs after each of them, untimed (to delete what a run wrote).
    """
    times = ([], [])
    for i in range(-1, iterations):
        for side, run in enumerate((project, floor)):
            started = time.perf_counter()
            run(i)
            elapsed = time.perf_counter() - started
            if i >= 0:
                times[side].append(elapsed)
            if reset is not None:
                reset()
    return statistics.median(times[0]), statistics.median(times[1])


def count_queries(run) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def captured_sql(run) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    return [query["sql"] for query in captured.captured_queries]


class Bench:
    def __init__(self, *, jobs: int, iterations: int, records: int, bulk: int):
        from django.test import Client

        from finetunings import services

        self.iterations = iterations
        self.records, self.bulk = records, bulk
        self.seeded = _seed_all(jobs)
        _, raw_key = services.api_key_create(name="bench")
        self.api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        self.plain = Client()
        self.staff = Client()
        self.staff.force_login(_superuser())
        self.results: list[Result] = []
        self.profiler: cProfile.Profile | None = None

    def get(self, client, url, params=None, status=200):
        response = client.get(url, params or {})
        assert response.status_code == status, (url, response.status_code, response.content)
        return b"".join(response) if response.streaming else response.content

    def add(self, name, project, floor, note="", iterations=None, reset=None):
        if self.profiler is not None:
            self._profile(name, project, iterations or self.iterations, reset)
            return
        project_median, floor_median = interleaved(
            project, floor, iterations or self.iterations, reset
        )
        queries = count_queries(lambda: project(-1))
        if reset is not None:
            reset()
        self.results.append(Result(name, project_median, floor_median, queries, note))
        print(self.results[-1].line(), flush=True)

    def _profile(self, name, project, iterations, reset):
        project(-1)  # warm-up, not profiled
        for i in range(iterations):
            self.profiler.enable()
            project(i)
            self.profiler.disable()
            if reset is not None:
                reset()
        print(f"profiled: {name} x {iterations}", flush=True)


def _seed_all(jobs: int) -> dict:
    from _seed import seed_jobs

    started = time.perf_counter()
    seeded = seed_jobs(jobs)
    print(f"seeded {jobs} jobs in {time.perf_counter() - started:.1f} s", flush=True)
    return seeded


def _superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("bench", "bench@example.com", "x")


# --- The paths ------------------------------------------------------------------------

API = "/api/v1/finetunings"
FLOOR_VIEW = "/bench-floor/finetunings"  # benchmarks/urls.py


def same_content(path: str, project: bytes, floor: bytes, part=lambda body: body) -> None:
    """Stop unless the floor gives what the project gives (a ratio is only fair then)."""
    ours, theirs = part(json.loads(project)), part(json.loads(floor))
    if ours == theirs:
        return
    if isinstance(ours, list):
        if len(ours) != len(theirs):
            raise SystemExit(f"{path}: {len(ours)} items, the floor {len(theirs)}")
        ours, theirs = next((a, b) for a, b in zip(ours, theirs, strict=True) if a != b)
    differ = {key: (ours.get(key), theirs.get(key)) for key in {*ours, *theirs}
              if ours.get(key) != theirs.get(key)}  # fmt: skip
    raise SystemExit(f"{path}: the floor's content differs (project, floor): {differ}")


def bench_lists(bench: Bench) -> None:
    import _floors

    old = bench.seeded["old_connection"]
    cases = [
        ("list, first page, limit=100", {}, "", ()),
        ("list status=running, limit=100", {"status": "running"}, "WHERE status = %s", ["running"]),
        (
            "list db_connection_id=<all old>, limit=100",
            {"db_connection_id": old},
            "WHERE db_connection_id = %s",
            [old],
        ),
    ]
    for name, params, where, args in cases:
        same_content(
            name,
            bench.get(bench.api, API, {"limit": 100, **params}),
            _floors.job_page(where, args),
            part=lambda body: body["results"],  # the floor has no next page's link
        )
        bench.add(
            name,
            lambda i, params=params: bench.get(bench.api, API, {"limit": 100, **params}),
            lambda i, where=where, args=args: _floors.job_page(where, args),
        )
    # The framework's own floor: a plain Django view, same middleware, same raw query.
    bench.add(
        "list, first page, limit=100, vs plain Django view",
        lambda i: bench.get(bench.api, API, {"limit": 100}),
        lambda i: bench.get(bench.plain, FLOOR_VIEW, {"limit": 100}),
        note="(floor: benchmarks/floor_views.py through the same client)",
    )


def bench_retrieve(bench: Bench) -> None:
    import _floors

    from finetunings.models import Finetuning

    ids = list(Finetuning.objects.order_by("-created_at").values_list("id", flat=True)[:500])
    same_content("retrieve", bench.get(bench.api, f"{API}/{ids[0]}"), _floors.job_one(ids[0]))
    bench.add(
        "retrieve one job",
        lambda i: bench.get(bench.api, f"{API}/{ids[i % len(ids)]}"),
        lambda i: _floors.job_one(ids[(i + 250) % len(ids)]),
    )
    bench.add(
        "retrieve one job, vs plain Django view",
        lambda i: bench.get(bench.api, f"{API}/{ids[i % len(ids)]}"),
        lambda i: bench.get(bench.plain, f"{FLOOR_VIEW}/{ids[(i + 250) % len(ids)]}"),
        note="(floor: benchmarks/floor_views.py through the same client)",
    )


def bench_cancel(bench: Bench) -> None:
    import _floors
    from django.conf import settings

    from finetunings.models import Finetuning
    from finetunings.providers import reset_providers
    from finetunings.providers.base import ProviderJob
    from tests.fakes import memory_provider

    # The in-memory provider of the tests: a cancel at the provider that takes no time.
    provider = memory_provider.InMemoryProvider()
    memory_provider.install(provider)
    settings.FINETUNING_PROVIDERS = {"openai": "tests.fakes.memory_provider.current"}
    reset_providers()
    running = iter(bench.seeded["running"])
    for remote in Finetuning.objects.filter(status="running").values_list(
        "finetuning_job_id", flat=True
    ):
        provider.jobs[remote] = ProviderJob(id=remote, status="running")

    def project(i):
        job_id = next(running)
        response = bench.api.post(f"{API}/{job_id}/cancel", {}, content_type="application/json")
        assert response.status_code == 200, response.content

    bench.add(
        "cancel, provider instant",
        project,
        lambda i: _floors.cancel(next(running)),
        note="(floor: UPDATE ... RETURNING + event INSERT)",
        iterations=min(bench.iterations, (len(bench.seeded["running"]) - 4) // 2),
    )


def bench_bulk_import(bench: Bench) -> None:
    import _floors
    from _seed import golden_records_payload

    from finetunings.models import GoldenRecord

    connection_id = bench.seeded["connections"][1]
    counter = itertools.count()

    def body():
        return json.dumps(golden_records_payload(connection_id, bench.bulk, next(counter)))

    def project(i):
        payload = body()
        response = bench.api.post(
            "/api/v1/golden-records", payload, content_type="application/json"
        )
        assert response.status_code == 201, response.content[:500]

    bench.add(
        f"bulk create of {bench.bulk:,} golden records",
        project,
        lambda i: _floors.bulk_insert(body().encode()),
        note="(floor: json.loads + COPY; SQLite: executemany)",
        iterations=max(3, bench.iterations // 10),
        reset=lambda: GoldenRecord.objects.filter(db_connection_id=connection_id).delete(),
    )


def bench_training_file(bench: Bench) -> None:
    import _floors

    from finetunings import training_data
    from finetunings.models import DatabaseConnection, Finetuning

    job = Finetuning.objects.get(pk=_training_job(bench.records))
    system = training_data.system_message(DatabaseConnection.objects.get(pk=job.db_connection_id))

    def project(i):
        with tempfile.TemporaryFile() as out:
            training_data.write_training_file(finetuning=job, out=out)

    def floor(i):
        with tempfile.TemporaryFile() as out:
            _floors.training_file(job.db_connection_id, system, out)

    peaks = (_peak_mib(project), _peak_mib(floor))
    bench.add(
        f"training file, {bench.records:,} records",
        project,
        floor,
        note=f"peak +{peaks[0]:.2f} MiB vs +{peaks[1]:.2f} MiB ({peaks[0] / peaks[1]:.2f}x)",
        iterations=max(3, bench.iterations // 10),
    )


def _peak_mib(run) -> float:
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    run(0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - baseline) / 2**20


def _training_job(count: int) -> str:
    from _seed import golden_records_payload

    from finetunings import services
    from finetunings.models import GoldenRecord

    connection = services.database_connection_create(
        alias="training",
        dialect="postgresql",
        connection_uri="postgresql://reader:secret@db/shop",
        schema="CREATE TABLE orders (id integer primary key, customer text, total numeric);",
    )
    GoldenRecord.objects.bulk_create(
        (GoldenRecord(**record) for record in golden_records_payload(connection.pk, count, "t")),
        batch_size=2000,
    )
    return services.finetuning_create(db_connection_id=connection.pk, actor="benchmark").pk


def bench_admin(bench: Bench) -> None:
    import _floors

    from finetunings.models import Finetuning

    url = "/admin/finetunings/finetuning/"
    some = Finetuning.objects.order_by("created_at").values_list("id", "alias")[1234]
    cases = [
        ("admin job list, filtered by status", {"status__exact": "running"}),
        ("admin job list, unfiltered", {}),
        ("admin search by alias", {"q": some[1]}),
        ("admin search by id", {"q": some[0]}),
    ]
    for name, params in cases:
        queries = captured_sql(lambda params=params: bench.get(bench.staff, url, params))
        queries = [sql for sql in queries if sql.lstrip().upper().startswith("SELECT")]
        bench.add(
            name,
            lambda i, params=params: bench.get(bench.staff, url, params),
            lambda i, queries=queries: _floors.replay(queries),
            note="(floor: the page's own SELECTs, replayed raw)",
            iterations=max(3, bench.iterations // 4),
        )


PATHS = {
    "list": bench_lists,
    "retrieve": bench_retrieve,
    "cancel": bench_cancel,
    "import": bench_bulk_import,
    "training": bench_training_file,
    "admin": bench_admin,
}


def profile(bench: Bench, name: str) -> None:
    """Where the project's time goes on one path (the project's side only, no floor)."""
    bench.profiler = cProfile.Profile()
    PATHS[name](bench)
    out = io.StringIO()
    stats = pstats.Stats(bench.profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"finetunings|rest_framework|django", 30)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rows and iterations (CI)")
    parser.add_argument("--only", choices=sorted(PATHS), action="append")
    parser.add_argument("--profile", choices=sorted(PATHS))
    args = parser.parse_args()
    # The project's settings, plus the plain Django views of benchmarks/urls.py.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    setup()
    from django.db import connection

    sizes = dict(jobs=5_000, iterations=5, records=2_000, bulk=500) if args.quick else {}
    bench = Bench(
        **{"jobs": 100_000, "iterations": 40, "records": 100_000, "bulk": 10_000, **sizes}
    )
    if args.profile:
        profile(bench, args.profile)
        return
    print(f"database: {connection.vendor}; times in ms (medians); ratio = project / floor")
    print(f"{'path':<52} {'project':>10} {'floor':>10} {'ratio':>8} {'queries':>8}")
    for name in args.only or PATHS:
        PATHS[name](bench)


if __name__ == "__main__":
    main()
