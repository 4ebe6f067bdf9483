"""/healthz and /readyz: what a load balancer and an operator see, without credentials."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.utils import timezone

from finetunings import services
from finetunings.errors import ErrorCode
from finetunings.models import WorkerHeartbeat
from finetunings.ops import health


@pytest.fixture
def fresh_worker(db):
    services.worker_heartbeat_record(worker_id="host:1:abc")
    return "host:1:abc"


def test_healthz_answers_without_credentials_and_without_the_database(client):
    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host_over_plain_http(client, settings, fresh_worker, path):
    # Load balancers probe a process by its address, over HTTP, inside the network.
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(path, HTTP_HOST="10.0.3.7:8000")

    assert response.status_code == HTTPStatus.OK


def test_readyz_is_green_with_database_migrations_storage_and_a_live_worker(client, fresh_worker):
    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "storage": "ok", "worker": "ok"},
    }


def test_readyz_turns_red_when_the_worker_stops_and_green_when_it_returns(client, db):
    services.worker_heartbeat_record(worker_id="w1")
    assert client.get("/readyz").status_code == HTTPStatus.OK

    services.worker_heartbeat_remove(worker_id="w1")  # what a worker does when it stops
    stopped = client.get("/readyz")

    assert stopped.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert stopped.json()["code"] == ErrorCode.NOT_READY
    assert stopped.json()["checks"]["worker"] == "stale"
    assert stopped.json()["detail"] == "Not ready: worker."

    services.worker_heartbeat_record(worker_id="w2")
    assert client.get("/readyz").status_code == HTTPStatus.OK


def test_a_killed_workers_heartbeat_grows_old_and_readyz_turns_red(client, settings, db):
    settings.FINETUNING_WORKER_HEARTBEAT_MAX_AGE_SECONDS = 60
    services.worker_heartbeat_record(worker_id="w1")
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=61))

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["checks"]["worker"] == "stale"


def test_each_worker_pass_writes_the_heartbeat(client, db):
    call_command("finetuning_worker", "--once")

    assert WorkerHeartbeat.objects.count() == 1
    assert client.get("/readyz").status_code == HTTPStatus.OK


def test_readyz_says_which_check_failed_but_not_why(client, settings, fresh_worker, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocked

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["checks"]["storage"] == health.FAILED
    assert str(tmp_path) not in response.text
    assert "Error" not in response.text


def test_readyz_is_red_without_a_database_and_skips_the_other_checks(client, monkeypatch):
    def unreachable():
        raise OSError("connection refused to db.internal:5432")

    monkeypatch.setitem(health.CHECKS, "database", unreachable)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["checks"] == {
        "database": "failed",
        "migrations": "unknown",
        "storage": "unknown",
        "worker": "unknown",
    }
    assert "db.internal" not in response.text
