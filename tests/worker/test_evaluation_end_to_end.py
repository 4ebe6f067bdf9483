"""As a user would: a job with a validation split is submitted and succeeds at the fake
provider, an evaluation is started through the API with its defaults, the worker runs it
(real SDK, the fake provider's models, a real SQLite file and a real PostgreSQL database),
and the API and the job's admin page read "fine-tuned: 80% execution accuracy, base: 50%,
+30 points on 10 held-out records", with every disagreement listed and the user's database
unchanged."""

import os
from http import HTTPStatus

import pytest

from finetunings import services
from finetunings.evaluation.execution import ExecutionLimits, executor_for
from finetunings.models import Finetuning, FinetuningStatus
from tests.fakes.openai_chat import ChatAnswer
from tests.helpers import evaluation_data as data
from tests.helpers.admin import change_url

HEADLINE = "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10 held-out records"


@pytest.fixture(autouse=True)
def roomy_timeout(settings, openai_provider):
    """A loaded machine must not turn an answer into a timeout (and a second call)."""
    settings.OPENAI_TIMEOUT_SECONDS = 10


LIMITS = ExecutionLimits(timeout_seconds=5, row_cap=1000)


@pytest.fixture
def sqlite_shop(make_connection, tmp_path):
    uri = data.create_sqlite_database(tmp_path / "shop.db")
    return make_connection(
        dialect="sqlite", connection_uri=uri, schema=data.SCHEMA, allow_execution=True
    )


@pytest.fixture
def postgresql_shop(make_connection):
    name = f"ft_eval_api_e2e_{os.getpid()}"
    uri = data.create_postgres_database(name)
    yield make_connection(
        dialect="postgresql", connection_uri=uri, schema=data.SCHEMA, allow_execution=True
    )
    data.drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shop(request):
    return request.getfixturevalue(f"{request.param}_shop")


def counts(connection) -> dict[str, int]:
    executor = executor_for(connection.dialect, connection.connection_uri, LIMITS)
    try:
        return data.table_counts(executor.run)
    finally:
        executor.close()


def chat_answer(text: str) -> ChatAnswer:
    return ChatAnswer.prose(text) if text == data.PROSE else ChatAnswer.sql(text)


def test_a_user_reads_80_50_and_30_points_after_evaluating_a_fine_tune(
    api, shop, openai_provider, run_pass, admin_client
):
    held_out = services.golden_records_create(
        records=[
            {"db_connection_id": shop.pk, "question": case.question, "sql": case.gold}
            for case in data.CASES
        ]
    )
    training = services.golden_records_create(
        records=[
            {"db_connection_id": shop.pk, "question": f"Order {i}?", "sql": f"SELECT {i}"}
            for i in range(10)
        ]
    )
    created = api.post(
        "/api/v1/finetunings",
        {
            "db_connection_id": shop.pk,
            "golden_records": [r.pk for r in training],
            "validation_golden_records": [r.pk for r in held_out],
        },
        format="json",
    )
    assert created.status_code == HTTPStatus.CREATED, created.json()
    job = Finetuning.objects.get(pk=created.json()["id"])
    run_pass()  # builds both files, uploads them and creates the provider job
    [remote] = openai_provider.jobs_for(job.pk)
    assert remote["validation_file"]
    openai_provider.set_status(remote["id"], "succeeded", fine_tuned_model=data.FINE_TUNED_MODEL)
    Finetuning.objects.filter(pk=job.pk).update(last_polled_at=None)
    run_pass()
    job.refresh_from_db()
    assert job.status == FinetuningStatus.SUCCEEDED
    assert job.model_name == data.BASE_MODEL
    for model, field in ((data.FINE_TUNED_MODEL, "fine_tuned"), (data.BASE_MODEL, "base")):
        openai_provider.answer_chat(
            model, {case.question: chat_answer(getattr(case, field)) for case in data.CASES}
        )
    before = counts(shop)

    started = api.post(f"/api/v1/finetunings/{job.pk}/evaluations", {}, format="json")
    assert started.status_code == HTTPStatus.CREATED, started.json()
    run_pass()

    evaluation = api.get(f"/api/v1/finetunings/{job.pk}/evaluations/{started.json()['id']}")
    body = evaluation.json()
    assert body["status"] == "succeeded"
    assert body["summary"]["headline"] == HEADLINE
    tuned, base = body["summary"]["models"]
    assert (tuned["execution_accuracy"], base["execution_accuracy"]) == (80.0, 50.0)
    assert (tuned["exact_match"], base["exact_match"]) == (5, 4)
    per_record = [
        [(a["exact_match"], a["outcome"]) for a in record["answers"]] for record in body["results"]
    ]
    assert per_record == [[c.fine_tuned_expected, c.base_expected] for c in data.CASES]
    job_body = api.get(f"/api/v1/finetunings/{job.pk}").json()
    assert job_body["evaluation"]["headline"] == HEADLINE
    assert job_body["evaluation"]["comparison"]["difference_points"] == 30.0
    assert openai_provider.chat_calls_for() == 20
    assert counts(shop) == before

    assert HEADLINE in admin_client.get(change_url(job)).content.decode()
    only = admin_client.get(change_url(job.evaluations.get(), "evaluation") + "?disagree=1")
    disagreeing = {row["record"].question for row in only.context["evaluation_rows"]}
    expected = {
        case.question
        for case in data.CASES
        if (case.fine_tuned_expected[1] == "match") != (case.base_expected[1] == "match")
    }
    assert disagreeing == expected
