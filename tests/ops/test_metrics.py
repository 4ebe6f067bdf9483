"""GET /metrics: Prometheus text, behind a token, with the queue and the provider's calls."""

from http import HTTPStatus

import pytest
from prometheus_client.parser import text_string_to_metric_families

from finetunings.errors import ErrorCode
from finetunings.models import FinetuningStatus

TOKEN = "scrape-token-123"


@pytest.fixture
def scrape(client, settings, db):
    settings.FINETUNING_METRICS_TOKEN = TOKEN

    def get():
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == HTTPStatus.OK
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return get


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token(client, settings):
    settings.FINETUNING_METRICS_TOKEN = None

    response = client.get("/metrics")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_metrics_need_the_token(client, settings, header):
    settings.FINETUNING_METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/metrics", **extra)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == ErrorCode.METRICS_FORBIDDEN
    assert "finetuning_jobs" not in response.text


def test_metrics_show_the_queue_by_status_and_the_oldest_waiting_job(
    scrape, connection, golden_records, make_finetuning
):
    make_finetuning(connection)
    make_finetuning(connection)
    make_finetuning(connection, status=FinetuningStatus.RUNNING)

    samples = scrape()

    assert value(samples, "finetuning_jobs", status="queued") == 2
    assert value(samples, "finetuning_jobs", status="running") == 1
    assert value(samples, "finetuning_jobs", status="succeeded") == 0
    assert value(samples, "finetuning_oldest_queued_job_age_seconds") >= 0
    assert ("finetuning_oldest_queued_job_age_seconds", ()) in samples


def test_metrics_count_http_requests_by_route_and_status(scrape, api):
    before = scrape()
    api.get("/api/v1/finetunings")
    api.get("/api/v1/finetunings/nope")

    after = scrape()

    listed = {"route": "api:finetuning-list", "method": "GET", "status": "200"}
    missing = {"route": "api:finetuning-detail", "method": "GET", "status": "404"}
    name = "finetuning_http_requests_total"
    assert value(after, name, **listed) - value(before, name, **listed) == 1
    assert value(after, name, **missing) - value(before, name, **missing) == 1


def test_metrics_count_provider_calls_errors_and_cancel_latency(
    scrape, api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.unreachable("cancel_job")
    before = scrape()

    failed = api.post(f"/api/v1/finetunings/{job.pk}/cancel", {}, format="json")

    after = scrape()
    assert failed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    call = {"provider": "openai", "operation": "cancel_job"}
    assert (
        value(after, "finetuning_provider_calls_total", **call)
        - value(before, "finetuning_provider_calls_total", **call)
        == 1
    )
    error = {**call, "kind": "unavailable"}
    assert (
        value(after, "finetuning_provider_errors_total", **error)
        - value(before, "finetuning_provider_errors_total", **error)
        == 1
    )
    latency = {"outcome": "provider_unavailable"}
    assert (
        value(after, "finetuning_cancel_seconds_count", **latency)
        - value(before, "finetuning_cancel_seconds_count", **latency)
        == 1
    )


def test_metrics_show_the_worker_pass_duration(scrape):
    from django.core.management import call_command

    before = scrape()
    call_command("finetuning_worker", "--once")
    after = scrape()

    ok = {"outcome": "ok"}
    assert (
        value(after, "finetuning_worker_pass_seconds_count", **ok)
        - value(before, "finetuning_worker_pass_seconds_count", **ok)
        == 1
    )


def test_metrics_still_answer_without_the_database(client, settings, db, monkeypatch):
    from finetunings.ops import metrics

    def unreachable(self):
        raise OSError("the database is down")

    monkeypatch.setattr(metrics.QueueCollector, "collect", unreachable)
    settings.FINETUNING_METRICS_TOKEN = TOKEN

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == HTTPStatus.OK
    assert "finetuning_http_requests_total" in response.text
    assert "finetuning_jobs{" not in response.text
