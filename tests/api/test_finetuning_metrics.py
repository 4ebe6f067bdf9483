"""Following a job through the API: its progress and training figures on the job, and the
per-step metrics route (paged, or downsampled with ``points``)."""

from http import HTTPStatus
from itertools import pairwise

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finetunings.models import (
    Finetuning,
    FinetuningCheckpoint,
    FinetuningMetric,
    FinetuningStatus,
)


def add_steps(job, count, total=None):
    FinetuningMetric.objects.bulk_create(
        FinetuningMetric(
            finetuning=job,
            step=step,
            total_steps=total or count,
            train_loss=2.0 / step,
            train_mean_token_accuracy=1 - 1 / (step + 1),
        )
        for step in range(1, count + 1)
    )


@pytest.fixture
def running_job(make_finetuning, connection, golden_records):
    return make_finetuning(connection, status=FinetuningStatus.RUNNING)


def test_a_running_job_shows_its_progress_eta_tokens_and_resolved_hyperparameters(api, running_job):
    add_steps(running_job, 30, total=120)
    Finetuning.objects.filter(pk=running_job.pk).update(
        trained_tokens=30_000,
        estimated_finish="2030-01-01T12:00:00Z",
        provider_hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
    )

    body = api.get(f"/api/v1/finetunings/{running_job.pk}").json()
    listed = api.get("/api/v1/finetunings").json()["results"][0]

    assert body["progress"] == {"step": 30, "total_steps": 120, "percent": 25.0}
    assert listed["progress"] == body["progress"]
    assert body["estimated_finish"].startswith("2030-01-01T12:00:00")
    assert body["trained_tokens"] == 30_000
    assert body["hyperparameters"] == {
        "n_epochs": 3,
        "batch_size": 1,
        "learning_rate_multiplier": 1.8,
    }
    assert body["error_detail"] is None


def test_progress_is_null_before_the_first_step_and_100_once_succeeded(api, running_job):
    assert api.get(f"/api/v1/finetunings/{running_job.pk}").json()["progress"] is None

    add_steps(running_job, 9, total=10)
    Finetuning.objects.filter(pk=running_job.pk).update(status=FinetuningStatus.SUCCEEDED)

    progress = api.get(f"/api/v1/finetunings/{running_job.pk}").json()["progress"]
    assert progress == {"step": 9, "total_steps": 10, "percent": 100.0}


def test_a_failed_job_shows_the_providers_error_code_param_and_message(api, running_job):
    Finetuning.objects.filter(pk=running_job.pk).update(
        status=FinetuningStatus.FAILED,
        error="Too few examples.",
        error_code="invalid_n_examples",
        error_param="training_file",
    )

    body = api.get(f"/api/v1/finetunings/{running_job.pk}").json()

    assert body["error"] == "Too few examples."
    assert body["error_detail"] == {
        "code": "invalid_n_examples",
        "param": "training_file",
        "message": "Too few examples.",
    }


def test_the_metrics_route_pages_through_every_step_in_order(api, running_job):
    add_steps(running_job, 25)

    seen, url = [], f"/api/v1/finetunings/{running_job.pk}/metrics?limit=10"
    while url:
        page = api.get(url).json()
        seen += page["results"]
        url = page["next"]

    assert [item["step"] for item in seen] == list(range(1, 26))
    assert seen[0] == {
        "step": 1,
        "total_steps": 25,
        "train_loss": 2.0,
        "train_mean_token_accuracy": 0.5,
        "valid_loss": None,
        "valid_mean_token_accuracy": None,
        "full_valid_loss": None,
        "full_valid_mean_token_accuracy": None,
    }


def test_points_downsamples_evenly_keeping_the_first_and_last_step(api, running_job):
    add_steps(running_job, 1000)

    body = api.get(f"/api/v1/finetunings/{running_job.pk}/metrics", {"points": 11}).json()

    steps = [item["step"] for item in body["results"]]
    assert len(steps) == 11
    assert (steps[0], steps[-1]) == (1, 1000)
    assert all(99 <= later - earlier <= 101 for earlier, later in pairwise(steps))
    assert body["next"] is None
    few = api.get(f"/api/v1/finetunings/{running_job.pk}/metrics", {"points": 5000}).json()
    assert len(few["results"]) == 1000  # fewer steps than points: all of them


@pytest.mark.parametrize("points", ["1", "0", "abc", "10001", ""])
def test_a_bad_points_value_is_a_400_saying_why(api, running_job, points):
    response = api.get(f"/api/v1/finetunings/{running_job.pk}/metrics", {"points": points})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "points" in response.json()["errors"]


def test_the_metrics_of_an_unknown_job_are_a_404(api, db):
    response = api.get("/api/v1/finetunings/0123456789abcdef01234567/metrics")

    assert response.status_code == HTTPStatus.NOT_FOUND


def count_queries(api, job, **params):
    with CaptureQueriesContext(db) as queries:
        response = api.get(f"/api/v1/finetunings/{job.pk}/metrics", params)
    assert response.status_code == HTTPStatus.OK
    return len(queries), len(response.json()["results"])


def test_the_metrics_route_answers_in_a_constant_number_of_queries_for_10000_steps(
    api, make_finetuning, connection, golden_records
):
    small = make_finetuning(connection, status=FinetuningStatus.RUNNING)
    big = make_finetuning(connection, status=FinetuningStatus.RUNNING)
    add_steps(small, 10)
    add_steps(big, 10_000)
    count_queries(api, small, points=500)  # the key's first use is recorded: one write, once

    assert count_queries(api, big, points=500) == (count_queries(api, small, points=500)[0], 500)
    assert count_queries(api, big, limit=1000) == (count_queries(api, small, limit=1000)[0], 1000)
    assert count_queries(api, big, points=500)[0] <= 4


def test_the_checkpoints_route_lists_each_checkpoint_with_its_model_id(api, running_job):
    for step in (50, 25):
        FinetuningCheckpoint.objects.create(
            finetuning=running_job,
            provider_checkpoint_id=f"ftckpt-{step}",
            step=step,
            model_id=f"ft:gpt-4o-mini:acme::abc:ckpt-step-{step}",
            metrics={"step": float(step), "train_loss": 1 / step},
        )

    body = api.get(f"/api/v1/finetunings/{running_job.pk}/checkpoints").json()

    assert [item["step"] for item in body["results"]] == [25, 50]
    assert body["results"][0]["id"] == "ftckpt-25"
    assert body["results"][0]["model_id"] == "ft:gpt-4o-mini:acme::abc:ckpt-step-25"
    assert body["results"][0]["metrics"] == {"step": 25.0, "train_loss": 0.04}
