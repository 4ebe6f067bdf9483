"""The job resources' bodies are, byte for byte, what FinetuningSerializer renders.

The API answers list, retrieve and cancel from plain rows (the fast read path); the
serializer stays the schema's and the writes' description of a job, so it is the
reference every body is compared with.
"""

from datetime import UTC, datetime

import pytest
from rest_framework.renderers import JSONRenderer

from finetunings import selectors
from finetunings.api.serializers import FinetuningSerializer
from finetunings.models import Finetuning, FinetuningMetric

API = "/api/v1/finetunings"


def rendered(jobs) -> bytes:
    return JSONRenderer().render(FinetuningSerializer(jobs, many=True).data)


def rendered_one(job_id) -> bytes:
    job = selectors.finetuning_list().get(pk=job_id)
    return JSONRenderer().render(FinetuningSerializer(job).data)


@pytest.fixture
def jobs(connection, golden_records, make_finetuning, provider):
    """A job for each shape a body takes: plain, unicode, every field filled, failed."""
    plain = make_finetuning(connection)
    unicode = make_finetuning(
        connection,
        alias="données_über_✓",
        metadata={"note": "naïve – “quoted” \\ / \n tab\t 🚀", "empty": ""},
    )
    full = make_finetuning(
        connection,
        status="running",
        finetuning_file_id="file-abc",
        finetuning_job_id=provider.add_job(status="running").id,
        provider_status="running",
        status_message="Training: step 3 of 9",
        model_parameters={"n_epochs": 3, "learning_rate_multiplier": 1.8, "batch_size": "auto"},
        training_summary={"examples": 12, "tokens": 1234, "counted_with": "tiktoken"},
        estimated_finish=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        trained_tokens=98765,
        provider_hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1},
        validation_golden_records=[golden_records[0].pk],
        validation_fraction=0.25,
        validation_seed=2**31 - 1,
        validation_file_id="file-valid",
    )
    FinetuningMetric.objects.create(finetuning=full, step=2, total_steps=9, train_loss=0.5)
    FinetuningMetric.objects.create(finetuning=full, step=3, total_steps=9, train_loss=0.4)
    unknown_total = make_finetuning(connection, status="running")
    FinetuningMetric.objects.create(finetuning=unknown_total, step=7, total_steps=None)
    succeeded = make_finetuning(
        connection,
        status="succeeded",
        model_id="ft:gpt-4o-mini:shop",
        finished_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )
    FinetuningMetric.objects.create(finetuning=succeeded, step=5, total_steps=10)
    failed = make_finetuning(
        connection,
        status="failed",
        error="The file has too few examples.",
        error_code="invalid_training_file",
        error_param="training_file",
        metadata={},
    )
    no_code = make_finetuning(connection, status="failed", error="Something broke.")
    return [plain, unicode, full, unknown_total, succeeded, failed, no_code]


def test_each_job_is_retrieved_as_the_serializer_renders_it(api, jobs):
    for job in jobs:
        response = api.get(f"{API}/{job.pk}")

        assert response.content == rendered_one(job.pk), job.alias


def test_a_page_of_jobs_is_listed_as_the_serializer_renders_it(api, jobs):
    response = api.get(API, {"limit": 100})

    body = response.json()
    page = selectors.finetuning_list().order_by("-created_at", "-id")
    assert [job["id"] for job in body["results"]] == [job.pk for job in page]
    envelope = {**body, "results": FinetuningSerializer(page, many=True).data}
    assert response.content == JSONRenderer().render(envelope)


def test_a_filtered_page_is_listed_as_the_serializer_renders_it(api, jobs):
    response = api.get(API, {"status": ["running", "failed"], "limit": 2})

    body = response.json()
    ids = [job["id"] for job in body["results"]]
    page = [selectors.finetuning_list().get(pk=job_id) for job_id in ids]
    assert len(ids) == 2
    assert body["next"]
    assert response.content == JSONRenderer().render({**body, "results": rendered_data(page)})


def rendered_data(jobs):
    return FinetuningSerializer(jobs, many=True).data


def test_a_cancelled_job_is_answered_as_the_serializer_renders_it(api, jobs):
    running = jobs[2]
    response = api.post(f"{API}/{running.pk}/cancel", {"metadata": {"why": "ünï"}}, format="json")

    assert response.status_code == 200
    assert response.content == rendered_one(running.pk)
    assert Finetuning.objects.get(pk=running.pk).status == "cancelled"


def test_cancelling_a_cancelled_job_again_is_answered_as_the_serializer_renders_it(api, jobs):
    api.post(f"{API}/{jobs[0].pk}/cancel", {}, format="json")

    response = api.post(f"{API}/{jobs[0].pk}/cancel", {"metadata": {"k": "v"}}, format="json")

    assert response.content == rendered_one(jobs[0].pk)
