"""The deployment smoke test behind scripts/smoke (also run by .ci/run).

What an operator does, in order, each step bounded in time:
1. ``scripts/serve web --migrate`` on its own PostgreSQL database (SMOKE_DATABASE_URL),
   with 2 gunicorn processes on a free loopback port, and two ``scripts/serve worker``.
   The provider is the fake OpenAI of the tests, on loopback, in this process.
2. /readyz is green; plain HTTP is redirected to HTTPS.
3. The seed's cancel example (spec/cancel-finetuning.rst) over HTTP with
   ``X-Forwarded-Proto: https``: a connection, golden records, a job, its cancel.
4. A staff member logs in to the admin through the proxy headers.
5. A cancel whose provider answers after 30 s gets the JSON 503 before gunicorn's timeout.
6. A client over its rate gets 429 (counted in Redis across both web processes).
7. /metrics shows the queue and the workers' provider calls.
8. /readyz turns red when the workers stop and green when one returns.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from tests.fakes.openai_server import CANCEL, FakeOpenAI  # noqa: E402

TOTAL_SECONDS = int(os.environ.get("SMOKE_TIMEOUT_SECONDS", "300"))
DATABASE_URL = os.environ.get(
    "SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/finetunings_smoke"
)
REDIS_URL = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/9")
HOST = "api.example.com"
PROXY = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
THROTTLE_RATE = 40
WEB_TIMEOUT = 12
REQUEST_DEADLINE = 4
SLOW_PROVIDER_SECONDS = 30


class SmokeFailed(Exception):
    pass


def step(message):
    print(f"--- {message}", flush=True)


def check(condition, message):
    if not condition:
        raise SmokeFailed(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


class Client:
    """A tiny HTTP client that keeps cookies itself (Secure ones too: TLS is simulated)."""

    def __init__(self, port: int, headers: dict | None = None):
        self.port = port
        self.headers = headers or {}
        self.cookies: dict[str, str] = {}

    def request(self, method, path, body=None, headers=None, timeout=60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        all_headers = {**self.headers, **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict | list):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, dict(response.getheaders()), data

    def json(self, method, path, body=None, headers=None, timeout=60):
        status, response_headers, data = self.request(method, path, body, headers, timeout)
        try:
            return status, response_headers, json.loads(data)
        except ValueError:
            raise SmokeFailed(f"{method} {path}: {status}, not JSON: {data[:300]!r}") from None


def wait_for(description, predicate, seconds):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.3)
    raise SmokeFailed(f"timed out waiting for {description} ({last!r})")


class Deployment:
    def __init__(self, workdir: Path, fake: FakeOpenAI):
        self.workdir = workdir
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPENAI_"))},
            "DATABASE_URL": DATABASE_URL,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FINETUNING_ENCRYPTION_KEY": "x4rGxMdo0bJ4xTvgmYr0lUm8BrgyZCCk0yVJoO8CXo0=",
            "DJANGO_ALLOWED_HOSTS": f"{HOST},127.0.0.1",
            "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
            "DJANGO_CACHE_URL": REDIS_URL,
            "FINETUNING_THROTTLE_API_KEY_RATE": f"{THROTTLE_RATE}/min",
            "FINETUNING_METRICS_TOKEN": "smoke-metrics-token",
            "FINETUNING_MEDIA_ROOT": str(workdir / "media"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_TIMEOUT_SECONDS": str(SLOW_PROVIDER_SECONDS + 10),
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "WEB_TIMEOUT_SECONDS": str(WEB_TIMEOUT),
            "FINETUNING_REQUEST_DEADLINE_SECONDS": str(REQUEST_DEADLINE),
            "FINETUNING_WORKER_SLEEP_SECONDS": "1",
            "FINETUNING_WORKER_POLL_SECONDS": "60",
            "FINETUNING_WORKER_HEARTBEAT_MAX_AGE_SECONDS": "10",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
        self.processes[name] = subprocess.Popen(
            ["scripts/serve", *args],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this script started
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def manage(self, *args: str, extra_env: dict | None = None) -> str:
        result = subprocess.run(
            [".venv/bin/python", "manage.py", *args],
            cwd=PROJECT_DIR,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise SmokeFailed(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def show_logs(self) -> None:
        for path in sorted(self.workdir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            print(f"===== {path.name} (last 40 lines) =====")
            print("\n".join(lines[-40:]))


def readiness(client):
    status, _, body = client.json("GET", "/readyz", timeout=10)
    return status, body


def run(deployment: Deployment, fake: FakeOpenAI) -> None:
    proxied = Client(deployment.port, PROXY)
    direct = Client(deployment.port)

    step("scripts/serve web --migrate (2 web processes) and 2 x scripts/serve worker")
    deployment.start("web", "web", "--migrate")
    wait_for("/healthz", lambda: direct.request("GET", "/healthz", timeout=5)[0] == 200, 120)
    deployment.start("worker-1", "worker")
    deployment.start("worker-2", "worker")
    wait_for("/readyz green", lambda: readiness(direct)[0] == 200, 90)
    check(readiness(direct)[1]["checks"]["worker"] == "ok", "readyz without a worker")

    step("plain HTTP is redirected to HTTPS; /readyz is not")
    status, headers, _ = direct.request("GET", "/api/v1/finetunings", headers={"Host": HOST})
    check(status == 301 and headers["Location"].startswith("https://"), f"no redirect: {status}")

    key = deployment.manage("create_api_key", "smoke").strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}

    step("the seed's cancel example over HTTP with X-Forwarded-Proto: https")
    status, _, connection = proxied.json(
        "POST",
        "/api/v1/database-connections",
        {
            "alias": "shop",
            "dialect": "postgresql",
            "connection_uri": "postgresql://reader:pw@db/shop",
            "schema": "CREATE TABLE orders (id int, total numeric);",
        },
        auth,
    )
    check(status == 201, f"connection: {status} {connection}")
    records = [
        {
            "db_connection_id": connection["id"],
            "question": f"Orders above {i}?",
            "sql": f"SELECT count(*) FROM orders WHERE total > {i}",
        }
        for i in range(10)
    ]
    status, _, body = proxied.json("POST", "/api/v1/golden-records", records, auth)
    check(status == 201, f"golden records: {status} {body}")

    def new_job():
        status, _, job = proxied.json(
            "POST",
            "/api/v1/finetunings",
            {
                "db_connection_id": connection["id"],
                "base_llm": {"model_name": "gpt-4o-mini-2024-07-18"},
            },
            auth,
        )
        check(status == 201, f"job: {status} {job}")
        return job

    job = new_job()
    status, _, cancelled = proxied.json(
        "POST",
        f"/api/v1/finetunings/{job['id']}/cancel",
        {"finetuning_id": job["id"]},
        {**auth, "accept": "application/json"},
    )
    check(status == 200, f"cancel: {status} {cancelled}")
    check(cancelled["status"] == "cancelled", f"not cancelled: {cancelled}")
    check(cancelled["error"] == "Fine tuning cancelled by the user", f"error: {cancelled}")

    step("an admin login through the proxy headers")
    deployment.manage(
        "createsuperuser",
        "--no-input",
        "--username",
        "smoke-admin",
        "--email",
        "admin@example.com",
        extra_env={"DJANGO_SUPERUSER_PASSWORD": "a-long-smoke-password-42"},
    )
    admin = Client(deployment.port, PROXY)
    status, _, _ = admin.request("GET", "/admin/login/?next=/admin/")
    check(status == 200 and "csrftoken" in admin.cookies, f"login page: {status}")
    form = (
        f"csrfmiddlewaretoken={admin.cookies['csrftoken']}&username=smoke-admin"
        "&password=a-long-smoke-password-42&next=/admin/"
    )
    status, headers, body = admin.request(
        "POST",
        "/admin/login/?next=/admin/",
        form,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"https://{HOST}",
            "Referer": f"https://{HOST}/admin/login/",
        },
    )
    check(status == 302 and headers.get("Location") == "/admin/", f"login: {status} {body[:200]}")
    status, _, body = admin.request("GET", "/admin/")
    check(status == 200 and b"Fine-tuning jobs" in body, f"admin index: {status}")

    step("a cancel waiting on a slow provider gets the JSON 503 before gunicorn's timeout")
    slow = new_job()

    def submitted():
        _, _, body = proxied.json("GET", f"/api/v1/finetunings/{slow['id']}", None, auth)
        return body.get("finetuning_job_id")

    wait_for("the worker to submit the job", submitted, 60)
    fake.delay_next(CANCEL, SLOW_PROVIDER_SECONDS)
    started = time.monotonic()
    status, headers, body = proxied.request(
        "POST",
        f"/api/v1/finetunings/{slow['id']}/cancel",
        b"{}",
        {**auth, "Content-Type": "application/json"},
        timeout=WEB_TIMEOUT + 20,
    )
    took = time.monotonic() - started
    check(status == 503, f"slow cancel: {status} {body[:300]!r}")
    check(headers.get("Content-Type") == "application/json", f"not JSON: {headers}")
    check(json.loads(body)["code"] == "provider_unavailable", f"slow cancel body: {body!r}")
    print(f"    503 after {took:.1f} s (deadline {REQUEST_DEADLINE} s, gunicorn {WEB_TIMEOUT} s)")

    step(f"a client over its rate ({THROTTLE_RATE}/min, shared by both web processes) gets 429")
    throttled_key = deployment.manage("create_api_key", "greedy").strip().splitlines()[-1]
    greedy = {"Authorization": f"Bearer {throttled_key}"}
    codes = []
    for _ in range(THROTTLE_RATE + 5):
        status, headers, body = proxied.request("GET", "/api/v1/finetunings?limit=1", None, greedy)
        codes.append(status)
        if status == 429:
            break
    check(codes[-1] == 429, f"never throttled: {codes}")
    check(len(codes) == THROTTLE_RATE + 1, f"429 after {len(codes)} requests, not shared?")
    check("Retry-After" in headers and json.loads(body)["code"] == "throttled", f"429: {body!r}")

    step("/metrics shows the queue and the workers' provider calls")
    status, _, body = direct.request(
        "GET", "/metrics", None, {"Authorization": "Bearer smoke-metrics-token"}
    )
    text = body.decode()
    check(status == 200, f"metrics: {status}")
    check('finetuning_jobs{status="cancelled"} 1.0' in text, "no queue gauge")
    check('finetuning_provider_calls_total{operation="create_job"' in text, "no worker calls")
    check("finetuning_http_requests_total" in text, "no HTTP counter")

    step("/readyz turns red when the workers stop and green when one returns")
    deployment.stop("worker-1")
    deployment.stop("worker-2")
    status, body = readiness(direct)
    check(status == 503 and body["checks"]["worker"] == "stale", f"still ready: {body}")
    deployment.start("worker-3", "worker")
    wait_for("/readyz green again", lambda: readiness(direct)[0] == 200, 60)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="smoke-"))
    fake = FakeOpenAI().start()
    deployment = Deployment(workdir, fake)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SmokeFailed("time is up")))
    signal.alarm(TOTAL_SECONDS)
    started = time.monotonic()
    ok = False
    try:
        recreate_database(DATABASE_URL)
        run(deployment, fake)
        ok = True
    except SmokeFailed as exc:
        print(f"SMOKE TEST FAILED: {exc}", flush=True)
    finally:
        signal.alarm(0)
        deployment.stop_all()
        fake.stop()
        if not ok:
            deployment.show_logs()
        try:
            drop_database(DATABASE_URL)
        except Exception as exc:  # the result stands; only the clean-up failed
            print(f"(could not drop the smoke database: {exc})")
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"smoke test {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
