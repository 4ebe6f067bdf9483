"""The sandbox provider: a job's whole life without a key, through the worker."""

from http import HTTPStatus

import pytest

from finetunings import worker
from finetunings.models import (
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningMetric,
    FinetuningStatus,
)
from finetunings.providers import reset_providers
from finetunings.validation import SANDBOX_OFF_MESSAGE

SANDBOX = "finetunings.providers.sandbox.SandboxProvider"


@pytest.fixture
def sandbox(settings):
    """The settings scripts/run gives (development mode), with steps that take no time."""
    settings.FINETUNING_SANDBOX_ENABLED = True
    settings.FINETUNING_PROVIDERS = {**settings.FINETUNING_PROVIDERS, "sandbox": SANDBOX}
    settings.FINETUNING_ALLOWED_MODELS = {
        **settings.FINETUNING_ALLOWED_MODELS,
        "sandbox": settings.FINETUNING_ALLOWED_MODELS["openai"],
    }
    settings.FINETUNING_SANDBOX_STEP_SECONDS = 0
    settings.FINETUNING_WORKER_POLL_SECONDS = 0
    reset_providers()
    yield
    reset_providers()


@pytest.fixture
def no_openai_key(settings):
    # The real OpenAI provider without a key: its jobs wait, as on a newcomer's machine.
    settings.FINETUNING_PROVIDERS = {
        **settings.FINETUNING_PROVIDERS,
        "openai": "finetunings.providers.openai.OpenAIProvider",
    }
    settings.OPENAI_API_KEY = None
    reset_providers()


def start_sandbox_job(api, connection):
    return api.post(
        "/api/v1/finetunings",
        {"db_connection_id": connection.pk, "base_llm": {"model_provider": "sandbox"}},
        format="json",
    )


def test_a_sandbox_job_succeeds_through_the_worker_without_a_key(
    api, sandbox, no_openai_key, connection, golden_records
):
    created = start_sandbox_job(api, connection)
    assert created.status_code == HTTPStatus.CREATED

    worker.run_once(log=lambda message: None)

    job = api.get(f"/api/v1/finetunings/{created.json()['id']}").json()
    assert job["status"] == "succeeded"
    assert job["base_llm"]["model_provider"] == "sandbox"
    assert job["model_id"].startswith("ft:sandbox:")
    assert job["finetuning_job_id"].startswith("sandbox-ftjob-")
    events = FinetuningEvent.objects.filter(finetuning_id=job["id"], kind="provider_event")
    metrics = [e for e in events if (e.data.get("data") or {}).get("type") == "metrics"]
    checkpoints = [e for e in events if (e.data.get("data") or {}).get("type") == "checkpoint"]
    assert len(metrics) == 10
    assert metrics[0].data["data"]["train_loss"] > metrics[-1].data["data"]["train_loss"]
    assert len(checkpoints) == 1
    assert all(e.message.startswith("[sandbox]") for e in events)
    # Its metrics events fill the metrics table like OpenAI's.
    steps = FinetuningMetric.objects.filter(finetuning_id=job["id"])
    assert [(m.step, m.total_steps) for m in steps] == [(step, 10) for step in range(1, 11)]
    [checkpoint] = FinetuningCheckpoint.objects.filter(finetuning_id=job["id"])
    assert checkpoint.model_id == f"{job['model_id']}:ckpt-step-10"


def test_a_second_pass_adds_nothing_to_a_finished_sandbox_job(
    api, sandbox, connection, golden_records, provider
):
    job_id = start_sandbox_job(api, connection).json()["id"]
    worker.run_once(log=lambda message: None)
    count = FinetuningEvent.objects.filter(finetuning_id=job_id).count()

    worker.run_once(log=lambda message: None)

    assert FinetuningEvent.objects.filter(finetuning_id=job_id).count() == count
    assert provider.calls_to("create_job") == []  # never sent to the real provider


def test_a_running_sandbox_job_can_be_cancelled(api, settings, sandbox, connection, golden_records):
    settings.FINETUNING_SANDBOX_STEP_SECONDS = 3600  # stays in its first step
    job_id = start_sandbox_job(api, connection).json()["id"]
    worker.run_once(log=lambda message: None)

    response = api.post(f"/api/v1/finetunings/{job_id}/cancel", format="json")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == FinetuningStatus.CANCELLED
    assert response.json()["finetuning_job_id"].startswith("sandbox-ftjob-")


def test_the_sandbox_is_refused_when_the_setting_turns_it_off(
    api, settings, connection, golden_records
):
    settings.FINETUNING_SANDBOX_ENABLED = False

    response = start_sandbox_job(api, connection)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"] == {"base_llm.model_provider": [SANDBOX_OFF_MESSAGE]}


def test_openai_jobs_still_wait_for_their_key_beside_sandbox_jobs(
    api, sandbox, no_openai_key, connection, golden_records
):
    waiting = api.post(
        "/api/v1/finetunings", {"db_connection_id": connection.pk}, format="json"
    ).json()
    start_sandbox_job(api, connection)

    report = worker.run_once(log=lambda message: None)

    job = api.get(f"/api/v1/finetunings/{waiting['id']}").json()
    assert job["status"] == "queued"
    assert "OPENAI_API_KEY" in job["status_message"]
    assert report.waiting_reason
