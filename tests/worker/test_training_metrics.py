"""Training metrics as data: every step the provider reports is one row per job and step,
filled by the refresh from ``metrics`` events as they arrive and completed from the result
file when the job succeeds; the job keeps what the provider says about its training.

Driven through the real SDK against the fake OpenAI (tests/fakes/openai_server.py)."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from finetunings import selectors
from finetunings.models import (
    Finetuning,
    FinetuningCheckpoint,
    FinetuningMetric,
    FinetuningStatus,
)
from tests.fakes.openai_server import CHECKPOINTS, FILE_CONTENT
from tests.helpers.refresh import due_again, refresh


def steps_of(job):
    return list(FinetuningMetric.objects.filter(finetuning=job).values_list("step", flat=True))


def checkpoints_of(job):
    return list(FinetuningCheckpoint.objects.filter(finetuning=job).values_list("step", "model_id"))


def percent_of(job):
    return selectors.finetuning_progress(Finetuning.objects.get(pk=job.pk))["percent"]


def test_a_job_trained_100_steps_over_several_passes_ends_with_each_step_once(
    openai_provider, followed_jobs
):
    [job] = followed_jobs(openai_provider, 1, status="running")
    remote_id = job.finetuning_job_id
    dropped = {10, 55, 99}  # trained, but their events never reach us

    openai_provider.train(remote_id, 30, total_steps=100, skip_events=dropped)
    refresh()
    assert steps_of(job) == [step for step in range(1, 31) if step not in dropped]
    running = Finetuning.objects.get(pk=job.pk)
    assert running.trained_tokens == 30_000
    assert percent_of(job) == 30.0
    model = f"ft:gpt-4o-mini-2024-07-18:acme::{remote_id[-8:]}"
    assert checkpoints_of(job) == [(25, f"{model}:ckpt-step-25")]
    assert running.estimated_finish is not None
    assert running.provider_hyperparameters == {
        "n_epochs": 3,
        "batch_size": 1,
        "learning_rate_multiplier": 1.8,
    }

    # The next poll reads every event again from the start: still one row per step.
    Finetuning.objects.filter(pk=job.pk).update(provider_events_cursor=None)
    openai_provider.train(remote_id, 40, total_steps=100, skip_events=dropped)
    due_again(job)
    refresh()
    assert steps_of(job) == [step for step in range(1, 71) if step not in dropped]
    assert Finetuning.objects.get(pk=job.pk).trained_tokens == 70_000
    assert percent_of(job) == 70.0
    assert [step for step, _model in checkpoints_of(job)] == [25, 50]

    openai_provider.train(remote_id, 30, total_steps=100, skip_events=dropped)
    openai_provider.set_status(remote_id, "succeeded")
    due_again(job)
    _, lines = refresh()

    finished = Finetuning.objects.get(pk=job.pk)
    assert finished.status == FinetuningStatus.SUCCEEDED
    assert steps_of(job) == list(range(1, 101))  # the result file filled 10, 55 and 99
    assert percent_of(job) == 100.0
    assert [step for step, _model in checkpoints_of(job)] == [25, 50, 75, 100]
    last_checkpoint = FinetuningCheckpoint.objects.get(finetuning=job, step=100)
    assert last_checkpoint.metrics["train_loss"] == pytest.approx(
        openai_provider.steps[remote_id][-1]["train_loss"]
    )
    assert len(openai_provider.calls_to(FILE_CONTENT)) == 1
    assert any("held 100 steps" in line for line in lines)
    reported = {row["step"]: row for row in openai_provider.steps[remote_id]}
    for metric in FinetuningMetric.objects.filter(finetuning=job):
        assert metric.train_loss == pytest.approx(reported[metric.step]["train_loss"])
        assert metric.train_mean_token_accuracy == pytest.approx(
            reported[metric.step]["train_mean_token_accuracy"]
        )
        assert metric.total_steps == 100
    last = FinetuningMetric.objects.get(finetuning=job, step=100)
    assert last.full_valid_loss == pytest.approx(reported[100]["full_valid_loss"])
    # The loss fell from the first step to the last.
    first = FinetuningMetric.objects.get(finetuning=job, step=1)
    assert last.train_loss < first.train_loss
    # The last estimate is kept when the provider stops sending one.
    assert finished.estimated_finish is not None


def test_a_base64_result_file_completes_the_metrics_as_a_plain_one_does(
    openai_provider, followed_jobs
):
    openai_provider.result_files_base64 = True
    [job] = followed_jobs(openai_provider, 1, status="running")
    openai_provider.train(job.finetuning_job_id, 20, total_steps=20, skip_events={1, 2, 3})
    openai_provider.set_status(job.finetuning_job_id, "succeeded")

    refresh()

    assert steps_of(job) == list(range(1, 21))
    assert FinetuningMetric.objects.get(finetuning=job, step=2).train_loss is not None


def test_metrics_of_a_whole_batch_are_written_in_one_statement(openai_provider, followed_jobs):
    jobs = followed_jobs(openai_provider, 5, status="running")
    for job in jobs:
        openai_provider.train(job.finetuning_job_id, 12, total_steps=50)

    with CaptureQueriesContext(db_connection) as queries:
        refresh()

    inserts = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].upper().startswith("INSERT")
        and FinetuningMetric._meta.db_table in query["sql"]
    ]
    assert len(inserts) == 1
    assert FinetuningMetric.objects.count() == 5 * 12


def test_malformed_metric_events_are_skipped_and_the_rest_stored(openai_provider, followed_jobs):
    [job] = followed_jobs(openai_provider, 1, status="running")
    remote_id = job.finetuning_job_id
    openai_provider.train(remote_id, 3, total_steps=10)
    for data in ({"step": "x"}, {"step": -1, "train_loss": 1}, {"train_loss": 2}):
        event = openai_provider.add_event(remote_id, "odd")
        event.update(type="metrics", data=data)
    event = openai_provider.add_event(remote_id, "nan")
    event.update(type="metrics", data={"step": 4, "train_loss": "NaN", "total_steps": 10})

    refresh()

    assert steps_of(job) == [1, 2, 3, 4]
    assert FinetuningMetric.objects.get(finetuning=job, step=4).train_loss is None


def test_a_failed_job_keeps_the_providers_error_code_and_param(openai_provider, followed_jobs):
    [job] = followed_jobs(openai_provider, 1, status="running")
    openai_provider.set_status(
        job.finetuning_job_id,
        "failed",
        error_message="The file has too few examples.",
        error_code="invalid_n_examples",
        error_param="training_file",
    )

    refresh()

    failed = Finetuning.objects.get(pk=job.pk)
    assert failed.status == FinetuningStatus.FAILED
    assert failed.error == "The file has too few examples."
    assert (failed.error_code, failed.error_param) == ("invalid_n_examples", "training_file")


def test_checkpoints_are_asked_for_only_when_an_event_announces_one(openai_provider, followed_jobs):
    [job] = followed_jobs(openai_provider, 1, status="running")
    remote_id = job.finetuning_job_id
    openai_provider.checkpoint_every = 10

    openai_provider.train(remote_id, 5, total_steps=40)
    refresh()
    assert openai_provider.calls_to(CHECKPOINTS) == []

    openai_provider.train(remote_id, 10, total_steps=40)  # steps 6 to 15: a checkpoint at 10
    due_again(job)
    refresh()
    due_again(job)
    refresh()  # nothing new

    assert openai_provider.calls_to(CHECKPOINTS) == [remote_id]
    assert [step for step, _model in checkpoints_of(job)] == [10]


def test_a_checkpoint_read_failure_keeps_the_rest_of_the_poll(openai_provider, followed_jobs):
    [job] = followed_jobs(openai_provider, 1, status="running")
    openai_provider.train(job.finetuning_job_id, 30, total_steps=100)
    openai_provider.keep_failing(CHECKPOINTS, job.finetuning_job_id)

    _, lines = refresh()

    assert len(steps_of(job)) == 30
    assert checkpoints_of(job) == []
    assert any("checkpoints unavailable" in line for line in lines)
