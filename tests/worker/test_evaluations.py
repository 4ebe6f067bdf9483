"""The worker's evaluation step, end to end: the real SDK asks the fake provider's models
(whose answers each test sets), answers are scored on a real SQLite database, and the
figures reach the API. Also: cancel stops the calls, a killed worker's evaluation is
resumed without asking a model twice, a passing provider failure is retried later."""

import sqlite3
import threading
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from finetunings import services
from finetunings.models import Evaluation, EvaluationAnswer, EvaluationStatus
from finetunings.worker.evaluations import run_evaluations
from tests.helpers.evaluations import BASE_MODEL, FINE_TUNED_MODEL, succeed

HEADLINE = "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10 records"


@pytest.fixture(autouse=True)
def roomy_timeout(settings, openai_provider):
    """A loaded machine must not turn an answer into a timeout (and a second call)."""
    settings.OPENAI_TIMEOUT_SECONDS = 10


TOTALS = [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]


def question(index: int) -> str:
    return f"How many orders are above {index * 10} dollars?"


def gold_sql(index: int) -> str:
    return f"SELECT count(*) FROM orders WHERE total > {index * 10}"


def wrong_sql(index: int) -> str:
    return f"SELECT count(*) + 100 FROM orders WHERE total > {index * 10}"


@pytest.fixture
def shop_file(tmp_path):
    """A small real SQLite database: ten orders."""
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id integer primary key, customer text, total numeric)")
        db.executemany(
            "INSERT INTO orders (customer, total) VALUES (?, ?)",
            [(f"c{total}", total) for total in TOTALS],
        )
    return path


@pytest.fixture
def shop(shop_file, make_connection):
    return make_connection(
        alias="shopfile",
        dialect="sqlite",
        connection_uri=f"sqlite:///{shop_file}",
        allow_execution=True,
    )


@pytest.fixture
def records(shop):
    return services.golden_records_create(
        records=[
            {"db_connection_id": shop.pk, "question": question(i), "sql": gold_sql(i)}
            for i in range(10)
        ]
    )


@pytest.fixture
def job(shop, records, make_finetuning):
    return succeed(make_finetuning(shop))


@pytest.fixture
def models_answer(openai_provider):
    """The fake's models: the fine-tuned one right on records 0-7, the base one on 0-4."""
    fake = openai_provider

    def answer(right_tuned=8, right_base=5, **extra):
        for model, right in ((FINE_TUNED_MODEL, right_tuned), (BASE_MODEL, right_base)):
            fake.answer_chat(
                model, {question(i): gold_sql(i) if i < right else wrong_sql(i) for i in range(10)}
            )
        return fake

    return answer


def start(job, records, **kwargs):
    return services.evaluation_create(
        finetuning=job, actor="test", golden_records=[r.pk for r in records], **kwargs
    )


def run_until_done(worker_id="w1", passes=10) -> None:
    for _ in range(passes):
        if run_evaluations(worker_id=worker_id, log=lambda line: None) is None:
            return


def asked_once_each(fake) -> bool:
    return all(
        fake.chat_calls_for(model, question(i)) == 1
        for model in (FINE_TUNED_MODEL, BASE_MODEL)
        for i in range(10)
    )


def test_fine_tuned_8_of_10_and_base_5_of_10_read_80_50_and_30_points_in_the_api(
    api, job, records, models_answer, shop_file
):
    fake = models_answer()
    evaluation = start(job, records)

    run_until_done()

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert evaluation.summary["headline"] == HEADLINE
    tuned, base = evaluation.summary["models"]
    assert tuned["outcomes"]["match"] == 8
    assert tuned["outcomes"]["mismatch"] == 2
    assert base["outcomes"]["match"] == 5
    assert tuned["exact_match_accuracy"] == 80.0
    assert tuned["tokens"]["total"] > 0
    assert asked_once_each(fake)
    body = api.get(f"/api/v1/finetunings/{job.pk}/evaluations/{evaluation.pk}").json()
    outcomes = [[a["outcome"] for a in r["answers"]] for r in body["results"]]
    assert (
        outcomes
        == [["match", "match"]] * 5 + [["match", "mismatch"]] * 3 + [["mismatch", "mismatch"]] * 2
    )
    assert api.get(f"/api/v1/finetunings/{job.pk}").json()["evaluation"]["headline"] == HEADLINE
    with sqlite3.connect(shop_file) as db:  # the user's database is as it was
        assert db.execute("SELECT count(*), sum(total) FROM orders").fetchone() == (10, 500)


def test_the_models_are_asked_with_exactly_the_training_prompt(job, records, models_answer):
    fake = models_answer()
    start(job, records[:1])

    run_until_done()

    from finetunings.training_data import prompt_messages, system_message

    expected = prompt_messages(system_message(job.db_connection), records[0].question)
    assert [messages for _model, messages in fake.chat_calls] == [expected, expected]


def test_without_the_switch_answers_are_scored_by_exact_match_only_and_marked_so(
    job, records, models_answer, shop
):
    shop.allow_execution = False
    shop.save(update_fields=["allow_execution"])
    models_answer()
    evaluation = start(job, records)

    run_until_done()

    evaluation.refresh_from_db()
    summary = evaluation.summary
    assert summary["execution"]["enabled"] is False
    assert [m["execution_accuracy"] for m in summary["models"]] == [None, None]
    assert [m["exact_match_accuracy"] for m in summary["models"]] == [80.0, 50.0]
    assert summary["headline"].startswith("fine-tuned: 80% exact match, base: 50%, +30 points")
    assert set(EvaluationAnswer.objects.values_list("outcome", flat=True)) == {"skipped"}


@pytest.fixture
def first_pass_within(settings, job, records, models_answer):
    """Start an evaluation and let worker w1 run one pass of at most ``calls`` model calls,
    one at a time; the fake and the evaluation."""

    def run(calls):
        settings.FINETUNING_EVALUATION_CALLS_PER_PASS = calls
        settings.FINETUNING_EVALUATION_CONCURRENCY = 1
        fake = models_answer()
        evaluation = start(job, records)
        run_evaluations(worker_id="w1")
        return fake, evaluation

    return run


def test_a_pass_asks_at_most_its_budget_and_the_next_pass_resumes(first_pass_within):
    fake, evaluation = first_pass_within(calls=6)

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.RUNNING
    assert evaluation.answered_count == 6
    assert evaluation.lease_owner is None
    run_until_done(worker_id="w2")
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert asked_once_each(fake)


def test_a_killed_workers_evaluation_is_resumed_by_another_without_asking_twice(
    settings, first_pass_within
):
    fake, evaluation = first_pass_within(calls=7)
    # As a worker killed mid-run leaves it: still running, held by a lease nobody renews.
    Evaluation.objects.filter(pk=evaluation.pk).update(
        lease_owner="killed", lease_until=timezone.now() + timedelta(minutes=5)
    )

    assert run_evaluations(worker_id="w2") is None  # not before it expires
    Evaluation.objects.filter(pk=evaluation.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    settings.FINETUNING_EVALUATION_CALLS_PER_PASS = 100
    run_until_done(worker_id="w2")

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert evaluation.summary["headline"] == HEADLINE
    assert asked_once_each(fake)
    assert EvaluationAnswer.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_evaluation_stops_further_model_calls(
    settings, job, records, models_answer
):
    settings.FINETUNING_EVALUATION_CONCURRENCY = 1
    fake = models_answer()
    fake.chat_delay = 0.2
    evaluation = start(job, records)

    def cancel_after_three_calls():
        deadline = time.monotonic() + 30
        while fake.chat_calls_for() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        services.evaluation_cancel(evaluation=evaluation, actor="cora")

    canceller = threading.Thread(target=cancel_after_three_calls)
    canceller.start()
    run_evaluations(worker_id="w1")
    canceller.join()
    calls_at_cancel = fake.chat_calls_for()
    run_until_done(worker_id="w2")

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    # The call in flight when the cancel landed may finish; none starts after it.
    assert 3 <= calls_at_cancel <= 4
    assert fake.chat_calls_for() == calls_at_cancel
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_a_provider_outage_pauses_the_evaluation_and_a_later_pass_finishes_it(
    settings, job, records, models_answer
):
    settings.FINETUNING_EVALUATION_CONCURRENCY = 1
    fake = models_answer()
    fake.keep_failing("chat", BASE_MODEL)  # 500s, after the SDK's own retries
    evaluation = start(job, records)

    run_evaluations(worker_id="w1")

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.RUNNING
    assert "provider could not be reached" in evaluation.status_message
    assert evaluation.lease_until > timezone.now()  # backs off before trying again
    assert run_evaluations(worker_id="w2") is None

    fake.always_failing["chat"].discard(BASE_MODEL)
    Evaluation.objects.filter(pk=evaluation.pk).update(lease_until=None)
    run_until_done(worker_id="w2")

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert fake.chat_calls_for(FINE_TUNED_MODEL) == 10


def test_a_model_the_provider_refuses_is_scored_invalid_with_the_reason(
    job, records, models_answer, openai_provider
):
    models_answer()
    openai_provider.chat_answers.pop(BASE_MODEL)  # the provider does not know it: a 404
    evaluation = start(job, records[:2])

    run_until_done()

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    refused = EvaluationAnswer.objects.filter(model=BASE_MODEL)
    assert {answer.outcome for answer in refused} == {"invalid"}
    assert all("could not be asked" in answer.message for answer in refused)
    assert openai_provider.chat_calls_for(BASE_MODEL) == 2


def test_the_worker_pass_runs_evaluations(run_pass, job, records, models_answer):
    models_answer()
    evaluation = start(job, records)

    run_pass()

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED


def test_an_evaluation_cannot_be_started_through_the_api_on_a_job_still_running(
    api, shop, records, make_finetuning
):
    running = make_finetuning(shop, status="running")

    response = api.post(
        f"/api/v1/finetunings/{running.pk}/evaluations",
        {"golden_records": [records[0].pk]},
        format="json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
