"""Evaluations on a machine without an OpenAI key: a sandbox job's evaluation runs through
the worker; an OpenAI job's evaluation waits and says why."""

from http import HTTPStatus

import pytest

from finetunings import services, worker
from finetunings.models import EvaluationStatus
from finetunings.providers import reset_providers
from tests.helpers.evaluations import succeed


@pytest.fixture
def sandbox_without_key(settings):
    """As scripts/run sets it up on a newcomer's machine, with steps that take no time."""
    settings.FINETUNING_SANDBOX_ENABLED = True
    settings.FINETUNING_PROVIDERS = {
        **settings.FINETUNING_PROVIDERS,
        "sandbox": "finetunings.providers.sandbox.SandboxProvider",
        "openai": "finetunings.providers.openai.OpenAIProvider",
    }
    settings.FINETUNING_ALLOWED_MODELS = {
        **settings.FINETUNING_ALLOWED_MODELS,
        "sandbox": settings.FINETUNING_ALLOWED_MODELS["openai"],
    }
    settings.FINETUNING_SANDBOX_STEP_SECONDS = 0
    settings.FINETUNING_WORKER_POLL_SECONDS = 0
    settings.OPENAI_API_KEY = None
    reset_providers()
    yield
    reset_providers()


def test_a_sandbox_jobs_evaluation_runs_and_an_openai_one_waits_for_a_key(
    api, sandbox_without_key, connection, golden_records, make_finetuning
):
    created = api.post(
        "/api/v1/finetunings",
        {"db_connection_id": connection.pk, "base_llm": {"model_provider": "sandbox"}},
        format="json",
    )
    job_id = created.json()["id"]
    worker.run_once(log=lambda line: None)
    assert api.get(f"/api/v1/finetunings/{job_id}").json()["status"] == "succeeded"
    started = api.post(
        f"/api/v1/finetunings/{job_id}/evaluations",
        {"golden_records": [golden_records[0].pk, golden_records[1].pk]},
        format="json",
    )
    assert started.status_code == HTTPStatus.CREATED
    waiting = services.evaluation_create(
        finetuning=succeed(make_finetuning(connection)),
        actor="test",
        golden_records=[golden_records[0].pk],
    )

    for _ in range(3):
        worker.run_once(log=lambda line: None)

    sandboxed = api.get(f"/api/v1/finetunings/{job_id}/evaluations/{started.json()['id']}")
    assert sandboxed.json()["status"] == "succeeded"
    assert sandboxed.json()["progress"]["answered"] == 4
    waiting.refresh_from_db()
    assert waiting.status == EvaluationStatus.RUNNING
    assert "provider could not be reached" in waiting.status_message
