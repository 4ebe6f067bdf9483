"""Several workers run evaluations against one PostgreSQL database: each evaluation is run
by one worker at a time, and no model is asked twice for a record."""

import time

import pytest

from finetunings import services
from finetunings.models import (
    EVALUATION_ACTIVE_STATUSES,
    Evaluation,
    EvaluationAnswer,
    EvaluationStatus,
)
from finetunings.worker.evaluations import run_evaluations
from tests.helpers.evaluations import BASE_MODEL, FINE_TUNED_MODEL, succeed
from tests.helpers.threads import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def roomy_timeout(settings, openai_provider):
    """A loaded machine must not turn an answer into a timeout (and a second call)."""
    settings.OPENAI_TIMEOUT_SECONDS = 10


def test_two_workers_share_evaluations_without_asking_a_model_twice(
    settings, openai_provider, connection, golden_records, make_finetuning
):
    settings.FINETUNING_EVALUATION_CALLS_PER_PASS = 3  # so the workers take turns
    settings.FINETUNING_EVALUATION_CONCURRENCY = 2
    settings.FINETUNING_WORKER_BACKOFF_SECONDS = 0
    for model in (FINE_TUNED_MODEL, BASE_MODEL):
        openai_provider.answer_chat(model, {}, default="SELECT count(*) FROM orders")
    openai_provider.chat_delay = 0.02
    evaluations = [
        services.evaluation_create(
            finetuning=succeed(make_finetuning(connection)),
            actor="test",
            golden_records=[record.pk for record in golden_records[:4]],
        )
        for _ in range(3)
    ]

    def work(worker_id):
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and Evaluation.objects.filter(status__in=EVALUATION_ACTIVE_STATUSES).exists()
        ):
            run_evaluations(worker_id=worker_id, log=lambda line: None)

    failures = run_at_once(work, timeout=120)

    assert failures == []
    for evaluation in evaluations:
        evaluation.refresh_from_db()
        assert evaluation.status == EvaluationStatus.SUCCEEDED
    # 3 evaluations x 4 records x 2 models, each asked once.
    assert len(openai_provider.chat_calls) == 24
    assert EvaluationAnswer.objects.count() == 24
