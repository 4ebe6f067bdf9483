"""Benchmark: requests per second through gunicorn (2 sync workers, loopback).

Three servers on ephemeral ports, each gunicorn with the project's gunicorn.conf.py and 2
sync workers: the product (benchmarks/settings.py: the project's settings and URLs plus
the floor views), whose plain Django views (benchmarks/floor_views.py) are the framework's
floor, and a bare WSGI app with the same raw query (benchmarks/bare_wsgi.py). A load
generator of threads with http.client hits one target at a time, for a fixed time; the
targets take turns, several rounds, and each figure is the median of its rounds.

    BENCHMARK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ft_hot_http \\
        .venv/bin/python benchmarks/http.py [--quick]

The database is emptied and seeded (100,000 jobs; --quick: 5,000) before the run.
"""

import os
import sys

# This file's name shadows the standard library's ``http`` for modules beside it: drop
# its folder from the path and import the benchmarks as a package instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import http.client  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from benchmarks._django import PROJECT_DIR, setup  # noqa: E402

CLIENT_THREADS = 4


def serve(app: str, settings_module: str, env: dict) -> tuple[subprocess.Popen, int]:
    """gunicorn on a socket bound here to port 0, handed over as fd://."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=PROJECT_DIR,
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "WEB_BIND": f"fd://{sock.fileno()}",
            "WEB_CONCURRENCY": "2",
            "WEB_THREADS": "1",
        },
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock.close()
    _wait_until_up(port)
    return process, port


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/nothing-here")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on port {port}")


def load(port: int, path: str, headers: dict, seconds: float) -> float:
    """Requests per second that CLIENT_THREADS threads get answered in ``seconds``."""
    counts = [0] * CLIENT_THREADS
    errors = []
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        # Gunicorn's sync workers close each connection after the answer; http.client
        # opens the next one by itself.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
                return
            counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENT_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{path}: HTTP {errors[0]}")
    return sum(counts) / (time.monotonic() - started)


def prepare(jobs: int) -> tuple[str, str]:
    """Seed the database; an API key and a job id for the requests."""
    from django.db import connection

    from benchmarks._seed import seed_jobs
    from finetunings import services
    from finetunings.models import Finetuning

    with connection.cursor() as cursor:
        for table in ("finetuningevent", "finetuning", "goldenrecord", "databaseconnection"):
            cursor.execute(f"DELETE FROM finetunings_{table}")
    seed_jobs(jobs)
    _, raw_key = services.api_key_create(name="http-bench")
    return raw_key, Finetuning.objects.order_by("-created_at").values_list("id", flat=True)[7]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows, shorter runs (CI)")
    args = parser.parse_args()
    os.environ["FINETUNING_THROTTLE_API_KEY_RATE"] = "100000000/min"
    setup()
    raw_key, job_id = prepare(5_000 if args.quick else 100_000)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    product, product_port = serve("finetuning_project.wsgi", "benchmarks.settings", env)
    bare, bare_port = serve("benchmarks.bare_wsgi:application", "finetuning_project.settings", env)
    auth = {"Authorization": f"Bearer {raw_key}"}
    targets = {
        ("list limit=50", "project"): (product_port, "/api/v1/finetunings?limit=50", auth),
        ("list limit=50", "django view"): (product_port, "/bench-floor/finetunings?limit=50", {}),
        ("list limit=50", "bare wsgi"): (bare_port, "/finetunings?limit=50", {}),
        ("retrieve", "project"): (product_port, f"/api/v1/finetunings/{job_id}", auth),
        ("retrieve", "django view"): (product_port, f"/bench-floor/finetunings/{job_id}", {}),
        ("retrieve", "bare wsgi"): (bare_port, f"/finetunings/{job_id}", {}),
    }
    seconds, rounds = (1.0, 2) if args.quick else (4.0, 3)
    try:
        results = {target: [] for target in targets}
        for _ in range(rounds):
            for target, (port, path, headers) in targets.items():
                results[target].append(load(port, path, headers, seconds))
    finally:
        for process in (product, bare):
            process.terminate()
            process.wait(timeout=30)
    report({target: statistics.median(values) for target, values in results.items()})


def report(rps: dict) -> None:
    print("gunicorn, 2 sync workers, loopback; requests per second (median of rounds)")
    print(f"{'path':<16} {'project':>8} {'django view':>12} {'bare wsgi':>10} {'vs view':>8} "
          f"{'vs bare':>8}")  # fmt: skip
    for path in ("list limit=50", "retrieve"):
        project, view, bare = (
            rps[(path, side)] for side in ("project", "django view", "bare wsgi")
        )
        print(
            f"{path:<16} {project:>8.0f} {view:>12.0f} {bare:>10.0f} "
            f"{project / view:>7.2f}x {project / bare:>7.2f}x"
        )


if __name__ == "__main__":
    main()
