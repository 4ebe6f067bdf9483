"""Evaluations through the API: start one on a succeeded job, follow it, read its figures
(and the job's own summary of its latest one), cancel it; every 4xx in the one error shape."""

from http import HTTPStatus

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finetunings.errors import ErrorCode
from finetunings.evaluation.report import EXECUTION_OFF_MESSAGE
from finetunings.models import Evaluation, EvaluationStatus, Finetuning, FinetuningStatus
from tests.helpers.evaluations import (
    BASE_MODEL,
    FINE_TUNED_MODEL,
    right_first,
    run_with_verdicts,
    succeed,
)

HEADLINE = "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10 records"


@pytest.fixture
def job(finetuning):
    return succeed(finetuning)


def url(job, *rest):
    return "/".join([f"/api/v1/finetunings/{job.pk}/evaluations", *rest])


def start(api, job, records, **body):
    return api.post(url(job), {"golden_records": [r.pk for r in records], **body}, format="json")


def test_an_evaluation_reports_80_and_50_percent_and_30_points_on_the_job_and_itself(
    api, job, golden_records
):
    created = start(api, job, golden_records[:10])
    assert created.status_code == HTTPStatus.CREATED, created.json()
    body = created.json()
    assert body["status"] == "queued"
    assert body["progress"] == {"answered": 0, "total": 20, "percent": 0.0}
    evaluation = Evaluation.objects.get(pk=body["id"])

    run_with_verdicts(
        evaluation, {FINE_TUNED_MODEL: right_first(8, 10), BASE_MODEL: right_first(5, 10)}
    )

    detail = api.get(url(job, evaluation.pk)).json()
    assert detail["status"] == "succeeded"
    assert detail["progress"] == {"answered": 20, "total": 20, "percent": 100.0}
    tuned, base = detail["summary"]["models"]
    assert (tuned["model"], tuned["execution_accuracy"], tuned["execution_match"]) == (
        FINE_TUNED_MODEL,
        80.0,
        8,
    )
    assert (base["model"], base["execution_accuracy"]) == (BASE_MODEL, 50.0)
    assert tuned["outcomes"]["match"] == 8
    assert tuned["outcomes"]["mismatch"] == 2
    assert tuned["tokens"] == {"prompt": 1000, "completion": 100, "total": 1100}
    assert detail["summary"]["comparison"]["difference_points"] == 30.0
    assert detail["summary"]["headline"] == HEADLINE
    assert len(detail["results"]) == 10
    first, last = detail["results"][0], detail["results"][-1]
    assert first["question"] == golden_records[0].question
    assert [a["outcome"] for a in first["answers"]] == ["match", "match"]
    assert [a["outcome"] for a in last["answers"]] == ["mismatch", "mismatch"]

    shown = api.get(f"/api/v1/finetunings/{job.pk}").json()["evaluation"]
    assert shown["headline"] == HEADLINE
    assert shown["comparison"]["difference_points"] == 30.0
    assert [m["execution_accuracy"] for m in shown["models"]] == [80.0, 50.0]


def test_a_connection_without_the_switch_is_scored_by_exact_match_only_and_says_so(
    api, job, golden_records
):
    evaluation = Evaluation.objects.get(pk=start(api, job, golden_records[:10]).json()["id"])
    run_with_verdicts(
        evaluation,
        {FINE_TUNED_MODEL: right_first(8, 10), BASE_MODEL: right_first(5, 10)},
        execution_problem=EXECUTION_OFF_MESSAGE,
    )

    summary = api.get(url(job, evaluation.pk)).json()["summary"]

    assert summary["execution"] == {"enabled": False, "reason": EXECUTION_OFF_MESSAGE}
    assert [m["execution_accuracy"] for m in summary["models"]] == [None, None]
    assert [m["exact_match_accuracy"] for m in summary["models"]] == [80.0, 50.0]
    assert summary["comparison"]["metric"] == "exact_match_accuracy"
    assert summary["headline"] == (
        f"fine-tuned: 80% exact match, base: 50%, +30 points on 10 records "
        f"({EXECUTION_OFF_MESSAGE})"
    )


def test_the_job_list_shows_each_jobs_latest_evaluation_without_a_query_per_job(
    api, connection, golden_records, make_finetuning
):
    jobs = [succeed(make_finetuning(connection)) for _ in range(3)]
    for job in jobs:
        evaluation = Evaluation.objects.get(pk=start(api, job, golden_records[:2]).json()["id"])
        run_with_verdicts(evaluation, {FINE_TUNED_MODEL: [True, True], BASE_MODEL: [True, False]})

    with CaptureQueriesContext(db) as three:
        listed = api.get("/api/v1/finetunings").json()["results"]
    succeed(make_finetuning(connection))
    with CaptureQueriesContext(db) as four:
        api.get("/api/v1/finetunings")

    assert len(four.captured_queries) == len(three.captured_queries)
    assert [job["evaluation"]["comparison"]["difference_points"] for job in listed] == [50.0] * 3


def test_a_job_shows_no_evaluation_before_one_has_succeeded(api, job, golden_records):
    start(api, job, golden_records[:2])

    assert api.get(f"/api/v1/finetunings/{job.pk}").json()["evaluation"] is None


def test_evaluations_are_listed_newest_first_and_paginated(api, job, golden_records):
    ids = [start(api, job, golden_records[:1]).json()["id"] for _ in range(3)]

    page = api.get(url(job), {"limit": 2}).json()
    rest = api.get(page["next"]).json()

    assert [e["id"] for e in page["results"] + rest["results"]] == ids[::-1]


def test_cancel_stops_the_evaluation_keeps_it_and_a_finished_one_is_a_409(api, job, golden_records):
    evaluation_id = start(api, job, golden_records[:1]).json()["id"]

    cancelled = api.post(url(job, evaluation_id, "cancel"))
    again = api.post(url(job, evaluation_id, "cancel"))

    assert cancelled.status_code == again.status_code == HTTPStatus.OK
    assert cancelled.json()["status"] == "cancelled"
    assert api.get(url(job, evaluation_id)).json()["status"] == "cancelled"

    finished = Evaluation.objects.get(pk=start(api, job, golden_records[:1]).json()["id"])
    run_with_verdicts(finished, {FINE_TUNED_MODEL: [True], BASE_MODEL: [True]})
    refused = api.post(url(job, finished.pk, "cancel"))
    assert refused.status_code == HTTPStatus.CONFLICT
    assert refused.json() == {
        "detail": "The evaluation has already succeeded and cannot be cancelled.",
        "code": ErrorCode.EVALUATION_NOT_CANCELLABLE,
        "status": "succeeded",
    }


@pytest.mark.parametrize("status", [FinetuningStatus.RUNNING, FinetuningStatus.FAILED])
def test_a_job_that_has_not_succeeded_is_a_400(
    api, make_finetuning, connection, golden_records, status
):
    job = make_finetuning(connection, status=status)

    response = start(api, job, golden_records[:1])

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.FINETUNING_NOT_SUCCEEDED
    assert not Evaluation.objects.exists()


def test_by_default_the_jobs_held_out_records_are_evaluated(api, job, golden_records):
    held_out = [record.pk for record in golden_records[-3:]]
    Finetuning.objects.filter(pk=job.pk).update(validation_golden_records=held_out)

    created = api.post(url(job), {}, format="json")

    assert created.status_code == HTTPStatus.CREATED
    body = created.json()
    assert body["records"] == 3
    assert body["records_source"] == "validation"
    assert [m["role"] for m in body["models"]] == ["fine_tuned", "base"]
    detail = api.get(url(job, body["id"])).json()
    assert [r["golden_record_id"] for r in detail["results"]] == held_out


def test_no_records_named_and_no_validation_records_is_a_400(api, job):
    response = api.post(url(job), {}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == ErrorCode.NO_VALIDATION_RECORDS
    assert "golden_records" in body["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"golden_records": ["0" * 24]}, "golden_records"),
        ({"golden_records": []}, "golden_records"),
        ({"golden_records": [42]}, "golden_records.0"),
        ({"golden_records": "all"}, "golden_records"),
        ({"models": ["gpt-4o"]}, "models"),
        ({"models": []}, "models"),
    ],
)
def test_unknown_records_or_models_and_bad_types_are_400s_that_name_the_field(
    api, job, golden_records, body, field
):
    body = {"golden_records": [golden_records[0].pk], **body}

    response = api.post(url(job), body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()) == {"detail", "code", "errors"}
    assert field in response.json()["errors"]
    assert not Evaluation.objects.exists()


def test_unknown_job_or_evaluation_is_a_404(api, job, golden_records, make_finetuning, connection):
    other_job = succeed(make_finetuning(connection))
    evaluation_id = start(api, other_job, golden_records[:1]).json()["id"]

    assert api.get(f"/api/v1/finetunings/{'0' * 24}/evaluations").status_code == 404
    assert (
        api.post(f"/api/v1/finetunings/{'0' * 24}/evaluations", {}, format="json").status_code
        == 404
    )
    missing = api.get(url(job, evaluation_id))  # another job's evaluation
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert missing.json()["code"] == "not_found"
    assert api.post(url(job, "0" * 24, "cancel")).status_code == HTTPStatus.NOT_FOUND


def test_a_retried_create_with_an_idempotency_key_creates_one_evaluation(api, job, golden_records):
    body = {"golden_records": [golden_records[0].pk]}
    first = api.post(url(job), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = api.post(url(job), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.json()["id"] == second.json()["id"]
    assert Evaluation.objects.count() == 1


def test_routes_answer_with_and_without_a_trailing_slash(api, job, golden_records):
    evaluation_id = start(api, job, golden_records[:1]).json()["id"]

    assert api.get(url(job) + "/").status_code == HTTPStatus.OK
    assert api.get(url(job, evaluation_id) + "/").status_code == HTTPStatus.OK


def test_a_connection_says_whether_evaluations_may_run_queries_and_it_is_off_by_default(api):
    created = api.post(
        "/api/v1/database-connections",
        {"alias": "shopdb", "dialect": "sqlite", "connection_uri": "sqlite:////tmp/shop.db"},
        format="json",
    ).json()
    assert created["allow_execution"] is False

    changed = api.patch(
        f"/api/v1/database-connections/{created['id']}", {"allow_execution": True}, format="json"
    ).json()

    assert changed["allow_execution"] is True


def test_staff_need_the_evaluation_permissions(client, make_staff, job, golden_records):
    from tests.helpers.admin import logged_in

    viewer = logged_in(make_staff("val", "view_evaluation"))
    adder = logged_in(make_staff("ada", "view_evaluation", "add_evaluation"))
    body = {"golden_records": [golden_records[0].pk]}

    assert viewer.get(url(job)).status_code == HTTPStatus.OK
    denied = viewer.post(url(job), body, content_type="application/json")
    allowed = adder.post(url(job), body, content_type="application/json")

    assert denied.status_code == HTTPStatus.FORBIDDEN
    assert allowed.status_code == HTTPStatus.CREATED
    assert Evaluation.objects.get().status == EvaluationStatus.QUEUED
