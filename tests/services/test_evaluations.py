"""Evaluations as stored by their services: what is evaluated, who may cancel, how the
worker's claim, answers and lease behave."""

from datetime import timedelta

import pytest
from django.utils import timezone

from finetunings import errors, selectors, services
from finetunings.errors import ErrorCode
from finetunings.models import (
    Evaluation,
    EvaluationAnswer,
    EvaluationStatus,
    FinetuningCheckpoint,
    FinetuningStatus,
)
from tests.helpers.evaluations import BASE_MODEL, FINE_TUNED_MODEL, run_with_verdicts, succeed


@pytest.fixture
def job(finetuning):
    return succeed(finetuning)


def create(job, **kwargs):
    return services.evaluation_create(finetuning=job, actor="test", **kwargs)


def test_by_default_the_fine_tuned_and_base_model_answer_the_jobs_validation_records(
    job, golden_records
):
    held_out = [record.pk for record in golden_records[:4]]
    job.validation_golden_records = held_out  # as the validation split stores them

    evaluation = create(job)

    assert evaluation.status == EvaluationStatus.QUEUED
    assert evaluation.evaluated_models == [
        {"model": FINE_TUNED_MODEL, "role": "fine_tuned"},
        {"model": BASE_MODEL, "role": "base"},
    ]
    assert evaluation.records_source == "validation"
    records = selectors.evaluation_records(evaluation=evaluation)
    assert [record.golden_record_id for record in records] == held_out
    assert records[0].question == golden_records[0].question
    assert records[0].sql == golden_records[0].sql


def test_a_job_without_validation_records_needs_the_records_named(job, golden_records):
    with pytest.raises(errors.NoValidationRecords):
        create(job)

    evaluation = create(job, golden_records=[golden_records[1].pk, golden_records[0].pk])

    assert evaluation.record_count == 2
    assert evaluation.records_source == "chosen"


@pytest.mark.parametrize(
    "status",
    [
        FinetuningStatus.QUEUED,
        FinetuningStatus.RUNNING,
        FinetuningStatus.FAILED,
        FinetuningStatus.CANCELLED,
    ],
)
def test_only_a_succeeded_job_can_be_evaluated(finetuning, golden_records, status):
    finetuning.status = status

    with pytest.raises(errors.FinetuningNotSucceeded) as raised:
        create(finetuning, golden_records=[golden_records[0].pk])

    assert raised.value.code == ErrorCode.FINETUNING_NOT_SUCCEEDED
    assert not Evaluation.objects.exists()


def test_records_of_another_connection_or_unknown_ids_are_refused_and_nothing_is_stored(
    job, golden_records, make_connection, make_golden_records
):
    other = make_golden_records(make_connection(), count=1)[0]

    with pytest.raises(errors.ValidationFailed) as raised:
        create(job, golden_records=[golden_records[0].pk, other.pk, "f" * 24])

    (problem,) = raised.value.errors["golden_records"]
    assert other.pk in problem
    assert "f" * 24 in problem
    assert not Evaluation.objects.exists()


def test_models_must_be_the_jobs_own_and_checkpoints_may_be_named(job, golden_records):
    FinetuningCheckpoint.objects.create(
        finetuning=job, provider_checkpoint_id="ftckpt_1", step=20, model_id="ft:ckpt-20"
    )

    with pytest.raises(errors.ValidationFailed) as raised:
        create(job, golden_records=[golden_records[0].pk], models=["gpt-4o", FINE_TUNED_MODEL])
    assert "'gpt-4o'" in raised.value.errors["models"][0]

    evaluation = create(job, golden_records=[golden_records[0].pk], models=["ft:ckpt-20"])
    assert evaluation.evaluated_models == [
        {"model": "ft:ckpt-20", "role": "checkpoint", "step": 20}
    ]


def test_cancel_keeps_the_evaluation_and_a_retry_returns_it(job, golden_records):
    evaluation = create(job, golden_records=[golden_records[0].pk])

    cancelled = services.evaluation_cancel(evaluation=evaluation, actor="cora")
    again = services.evaluation_cancel(evaluation=evaluation, actor="someone else")

    assert cancelled.status == again.status == EvaluationStatus.CANCELLED
    assert again.cancelled_by == "cora"
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_a_finished_evaluation_cannot_be_cancelled(job, golden_records):
    evaluation = create(job, golden_records=[golden_records[0].pk])
    run_with_verdicts(evaluation, {FINE_TUNED_MODEL: [True], BASE_MODEL: [False]})

    with pytest.raises(errors.EvaluationNotCancellable) as raised:
        services.evaluation_cancel(evaluation=evaluation, actor="cora")

    assert raised.value.status == EvaluationStatus.SUCCEEDED


def test_a_cancelled_evaluation_takes_no_more_answers_from_its_worker(job, golden_records):
    evaluation = create(job, golden_records=[golden_records[0].pk])
    claimed = services.evaluation_claim(worker_id="w1")
    (record,) = selectors.evaluation_records(evaluation=claimed)

    services.evaluation_cancel(evaluation=evaluation, actor="cora")
    stored = services.evaluation_store_answer(
        evaluation=claimed, worker_id="w1", record=record, model=FINE_TUNED_MODEL, sql="SELECT 1"
    )

    assert stored is False
    assert not EvaluationAnswer.objects.exists()
    assert not services.evaluation_still_held(evaluation=claimed, worker_id="w1")


def test_a_held_evaluation_is_not_claimed_twice_until_its_lease_expires(job, golden_records):
    evaluation = create(job, golden_records=[golden_records[0].pk])

    first = services.evaluation_claim(worker_id="w1")
    second = services.evaluation_claim(worker_id="w2")
    Evaluation.objects.filter(pk=evaluation.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    taken_over = services.evaluation_claim(worker_id="w2")

    assert first.pk == evaluation.pk
    assert second is None
    assert taken_over.pk == evaluation.pk
    assert taken_over.lease_owner == "w2"
    assert not services.evaluation_still_held(evaluation=first, worker_id="w1")


def test_a_model_answers_a_record_once_however_often_it_is_stored(job, golden_records):
    create(job, golden_records=[golden_records[0].pk])
    claimed = services.evaluation_claim(worker_id="w1")
    (record,) = selectors.evaluation_records(evaluation=claimed)

    for sql in ("SELECT 1", "SELECT 2"):
        assert services.evaluation_store_answer(
            evaluation=claimed, worker_id="w1", record=record, model=BASE_MODEL, sql=sql
        )

    (answer,) = EvaluationAnswer.objects.all()
    assert answer.sql == "SELECT 1"
    claimed.refresh_from_db()
    assert claimed.answered_count == 1
    assert selectors.evaluation_answered_pairs(evaluation=claimed) == {(record.pk, BASE_MODEL)}
