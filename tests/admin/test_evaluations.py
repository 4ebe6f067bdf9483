"""The admin's evaluation pages: the one-sentence result on the job's page and the
evaluation's, the per-record table filtered to disagreements, cancel, and starting one."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from finetunings import services
from finetunings.admin.evaluations import EVALUATE_ACTION
from finetunings.models import Evaluation, EvaluationStatus, Finetuning
from tests.helpers.admin import (
    CHANGE_FORM_ACTION,
    change_url,
    changelist_url,
    logged_in,
    messages_of,
)
from tests.helpers.evaluations import (
    BASE_MODEL,
    FINE_TUNED_MODEL,
    right_first,
    run_with_verdicts,
    succeed,
)

HEADLINE = "fine-tuned: 80% execution accuracy, base: 50%, +30 points on 10 held-out records"


@pytest.fixture
def job(finetuning):
    return succeed(finetuning)


@pytest.fixture
def finished(job, golden_records):
    held_out = [record.pk for record in golden_records[:10]]
    Finetuning.objects.filter(pk=job.pk).update(validation_golden_records=held_out)
    job.refresh_from_db()
    evaluation = services.evaluation_create(finetuning=job, actor="test")
    return run_with_verdicts(
        evaluation, {FINE_TUNED_MODEL: right_first(8, 10), BASE_MODEL: right_first(5, 10)}
    )


@pytest.fixture
def staff(make_staff):
    return logged_in(
        make_staff(
            "evan", "view_finetuning", "view_evaluation", "add_evaluation", "cancel_finetuning"
        )
    )


def test_the_jobs_page_reads_80_and_50_percent_and_30_points(staff, job, finished):
    page = staff.get(change_url(job)).content.decode()

    assert HEADLINE in page
    assert reverse("admin:finetunings_evaluation_change", args=[finished.pk]) in page


def test_the_evaluation_page_lists_every_record_and_filters_to_the_disagreements(
    staff, finished, golden_records
):
    every = staff.get(change_url(finished, "evaluation"))
    only = staff.get(change_url(finished, "evaluation") + "?disagree=1")

    assert every.status_code == only.status_code == HTTPStatus.OK
    assert HEADLINE in every.content.decode()
    assert len(every.context["evaluation_rows"]) == 10
    # Records 6 to 8 (0-based 5..7): the fine-tuned model is right, the base model wrong.
    shown = [row["record"].golden_record_id for row in only.context["evaluation_rows"]]
    assert shown == [record.pk for record in golden_records[5:8]]
    page = only.content.decode()
    assert golden_records[5].question in page
    assert golden_records[0].question not in page
    assert "mismatch" in page


def test_a_running_evaluation_is_cancelled_from_its_page_and_kept(staff, job, golden_records):
    evaluation = services.evaluation_create(
        finetuning=job, actor="test", golden_records=[golden_records[0].pk]
    )
    page = staff.get(change_url(evaluation, "evaluation")).content.decode()
    assert "Cancel evaluation" in page

    response = staff.post(
        reverse("admin:finetunings_evaluation_cancel", args=[evaluation.pk]), follow=True
    )

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert evaluation.cancelled_by == "staff user evan"
    assert "The evaluation is cancelled." in messages_of(response)


def test_cancel_needs_the_cancel_permission(make_staff, job, golden_records):
    viewer = logged_in(make_staff("vera", "view_evaluation"))
    evaluation = services.evaluation_create(
        finetuning=job, actor="test", golden_records=[golden_records[0].pk]
    )

    assert (
        "Cancel evaluation" not in viewer.get(change_url(evaluation, "evaluation")).content.decode()
    )
    response = viewer.post(reverse("admin:finetunings_evaluation_cancel", args=[evaluation.pk]))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Evaluation.objects.get().status == EvaluationStatus.QUEUED


def test_the_job_list_action_starts_an_evaluation_and_explains_a_refusal(
    staff, job, make_finetuning, connection, golden_records
):
    held_out = [record.pk for record in golden_records[:3]]
    Finetuning.objects.filter(pk=job.pk).update(validation_golden_records=held_out)
    running = make_finetuning(connection, status="running")

    response = staff.post(
        changelist_url(),
        {"action": "start_evaluation_action", "_selected_action": [job.pk, running.pk]},
        follow=True,
    )

    shown = messages_of(response)
    evaluation = Evaluation.objects.get()
    assert evaluation.finetuning_id == job.pk
    assert evaluation.record_count == 3
    assert any(evaluation.pk in message for message in shown)
    assert any("Only a succeeded job can be evaluated" in message for message in shown)


def test_evaluations_are_neither_added_nor_deleted_in_the_admin(superuser_client, finished):
    listing = superuser_client.get(changelist_url("evaluation"))

    assert listing.status_code == HTTPStatus.OK
    assert HEADLINE in listing.content.decode()
    add = superuser_client.get(reverse("admin:finetunings_evaluation_add"))
    delete = superuser_client.get(
        reverse("admin:finetunings_evaluation_delete", args=[finished.pk])
    )
    assert add.status_code == delete.status_code == HTTPStatus.FORBIDDEN


def test_a_connection_form_shows_the_evaluation_queries_switch(superuser_client, connection):
    page = superuser_client.get(change_url(connection, "databaseconnection")).content.decode()

    assert "allow_execution" in page
    assert "Allow evaluation queries" in page


def evaluate_from_its_page(client, job):
    return client.post(
        change_url(job),
        {CHANGE_FORM_ACTION: EVALUATE_ACTION, "_selected_action": job.pk},
        follow=True,
    )


def test_a_succeeded_jobs_page_has_an_evaluate_button_that_starts_one(staff, job, golden_records):
    held_out = [record.pk for record in golden_records[:3]]
    Finetuning.objects.filter(pk=job.pk).update(validation_golden_records=held_out)
    page = staff.get(change_url(job))
    assert b'class="ft-evaluate-button"' in page.content

    response = evaluate_from_its_page(staff, job)

    evaluation = Evaluation.objects.get()
    assert evaluation.finetuning_id == job.pk
    assert evaluation.status == EvaluationStatus.QUEUED
    assert response.redirect_chain[-1][0] == change_url(job)
    assert any(evaluation.pk in message for message in messages_of(response))


def test_the_evaluate_button_shows_only_for_a_succeeded_job_and_who_may_evaluate(
    make_staff, staff, job, make_finetuning, connection, golden_records
):
    running = make_finetuning(connection, status="running")
    held_out = [record.pk for record in golden_records[:3]]
    Finetuning.objects.filter(pk=job.pk).update(validation_golden_records=held_out)
    reader = logged_in(make_staff("rita", "view_finetuning", "view_evaluation"))

    assert b"ft-evaluate-button" not in staff.get(change_url(running)).content
    assert b"ft-evaluate-button" not in reader.get(change_url(job)).content
    evaluate_from_its_page(reader, job)
    assert not Evaluation.objects.exists()
