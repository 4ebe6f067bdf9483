"""Cancelling jobs from the admin: permission, confirmation, and what each job reports."""

from http import HTTPStatus

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from finetunings.admin.cancel import (
    CANCEL_ACTION,
    CANCEL_ALREADY_CANCELLED,
    CANCEL_ALREADY_FINISHED,
    CANCEL_DONE,
    CANCEL_LOG_MESSAGE,
    CANCEL_OUT_OF_TIME,
    CANCEL_PROVIDER_UNREACHABLE,
    CANCEL_TOO_MANY,
)
from finetunings.admin.jobs import FinetuningAdmin
from finetunings.errors import CANCELLED_BY_USER_MESSAGE
from finetunings.models import FinetuningEvent, FinetuningStatus
from tests.helpers.admin import (
    CHANGE_FORM_ACTION,
    change_url,
    changelist_url,
    message_levels,
    messages_of,
)

CANCEL_BUTTON = "Cancel job"


def confirm_cancel(client, *jobs, **extra):
    """The POST the confirmation page's "Yes, cancel" button sends."""
    return client.post(
        changelist_url(),
        {"action": CANCEL_ACTION, "_selected_action": [job.pk for job in jobs], "post": "yes"}
        | extra,
        follow=True,
    )


@pytest.fixture
def active_jobs(connection, golden_records, make_finetuning):
    return [make_finetuning(connection, alias=f"job-{i}") for i in range(2)]


# --- who may cancel ----------------------------------------------------------------------


def test_a_user_with_the_permission_sees_one_cancel_button_on_the_page_and_the_action_on_the_list(
    canceller_client, finetuning
):
    page = canceller_client.get(change_url(finetuning))

    assert page.status_code == HTTPStatus.OK
    assert page.text.count(CANCEL_BUTTON) == 1
    # One way to cancel on the job's page: the button, not also the actions' dropdown.
    assert f'<option value="{CANCEL_ACTION}">' not in page.text
    changelist = canceller_client.get(changelist_url())
    assert f'<option value="{CANCEL_ACTION}">' in changelist.text


def test_no_cancel_button_on_a_finished_job(
    canceller_client, connection, golden_records, make_finetuning
):
    finished = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)

    page = canceller_client.get(change_url(finished))

    assert page.status_code == HTTPStatus.OK
    assert CANCEL_BUTTON not in page.text
    assert f'value="{CANCEL_ACTION}"' not in page.text


@pytest.mark.parametrize("client_fixture", ["viewer_client", "editor_client"])
def test_a_user_without_the_permission_sees_no_way_to_cancel(request, client_fixture, finetuning):
    client = request.getfixturevalue(client_fixture)

    page = client.get(change_url(finetuning))
    changelist = client.get(changelist_url())

    assert page.status_code == HTTPStatus.OK
    assert changelist.status_code == HTTPStatus.OK
    assert finetuning.alias in changelist.text
    for html in (page.text, changelist.text):
        assert CANCEL_BUTTON not in html
        assert CANCEL_ACTION not in html


@pytest.mark.parametrize("client_fixture", ["viewer_client", "editor_client"])
def test_a_forged_confirmed_cancel_from_a_user_without_the_permission_changes_nothing(
    request, client_fixture, finetuning, provider
):
    client = request.getfixturevalue(client_fixture)

    response = confirm_cancel(client, finetuning)

    assert response.status_code == HTTPStatus.OK
    assert CANCEL_DONE.format(job=finetuning) not in messages_of(response)
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert finetuning.cancelled_by is None
    assert not FinetuningEvent.objects.filter(
        finetuning=finetuning, to_status=FinetuningStatus.CANCELLED
    ).exists()
    assert not LogEntry.objects.exists()


def test_a_forged_change_page_cancel_from_a_viewer_is_refused(viewer_client, finetuning):
    response = viewer_client.post(
        change_url(finetuning),
        {CHANGE_FORM_ACTION: CANCEL_ACTION, "_selected_action": finetuning.pk, "post": "yes"},
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


# --- the confirmation step ---------------------------------------------------------------


def test_the_change_list_action_asks_for_confirmation_first(canceller_client, active_jobs):
    response = canceller_client.post(
        changelist_url(),
        {"action": CANCEL_ACTION, "_selected_action": [job.pk for job in active_jobs], "index": 0},
    )

    assert response.status_code == HTTPStatus.OK
    assert "Are you sure you want to cancel the selected fine-tuning jobs?" in response.text
    for job in active_jobs:
        assert job.alias in response.text
        job.refresh_from_db()
        assert job.status == FinetuningStatus.QUEUED
    assert 'name="post" value="yes"' in response.text


def test_the_cancel_button_asks_for_confirmation_and_confirms_on_the_change_list(
    canceller_client, finetuning
):
    response = canceller_client.post(
        change_url(finetuning),
        {CHANGE_FORM_ACTION: CANCEL_ACTION, "_selected_action": finetuning.pk},
    )

    assert response.status_code == HTTPStatus.OK
    assert "Are you sure you want to cancel the selected fine-tuning job?" in response.text
    assert finetuning.alias in response.text
    assert f'action="{changelist_url()}"' in response.text
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


@pytest.mark.parametrize(
    ("client_fixture", "shown"),
    [
        # Without the permission the POST is an ordinary (here incomplete) edit of the job.
        pytest.param("editor_client", "This field is required.", id="forged-by-an-editor"),
        # With it, a confirmation only counts on the change list: the page asks again.
        pytest.param("canceller_client", "Are you sure you want to cancel", id="canceller"),
    ],
)
def test_a_confirmed_cancel_posted_to_the_change_page_cancels_nothing(
    request, finetuning, client_fixture, shown
):
    response = request.getfixturevalue(client_fixture).post(
        change_url(finetuning),
        {CHANGE_FORM_ACTION: CANCEL_ACTION, "_selected_action": finetuning.pk, "post": "yes"},
    )

    assert response.status_code == HTTPStatus.OK
    assert shown in response.text
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


def test_the_confirmation_lists_finished_jobs_as_left_alone(
    canceller_client, connection, golden_records, make_finetuning
):
    active = make_finetuning(connection, alias="still-running", status=FinetuningStatus.RUNNING)
    done = make_finetuning(connection, alias="long-done", status=FinetuningStatus.SUCCEEDED)

    response = canceller_client.post(
        changelist_url(),
        {"action": CANCEL_ACTION, "_selected_action": [active.pk, done.pk], "index": 0},
    )

    will_cancel, _, left_alone = response.text.partition("Already finished, left as they are")
    assert active.alias in will_cancel
    assert done.alias in left_alone


# --- what happens to each job ------------------------------------------------------------


def test_confirming_cancels_the_job_and_records_who_did_it(canceller, canceller_client, finetuning):
    response = confirm_cancel(canceller_client, finetuning)

    assert response.status_code == HTTPStatus.OK
    assert response.redirect_chain[-1][0] == changelist_url()
    assert messages_of(response) == [CANCEL_DONE.format(job=finetuning)]
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.CANCELLED
    assert finetuning.error == CANCELLED_BY_USER_MESSAGE
    assert finetuning.cancelled_by == "staff user cora"
    event = FinetuningEvent.objects.get(finetuning=finetuning, to_status=FinetuningStatus.CANCELLED)
    assert event.actor == "staff user cora"
    log = LogEntry.objects.get()
    assert (log.user, log.object_id, log.action_flag) == (canceller, finetuning.pk, CHANGE)
    assert log.get_change_message() == CANCEL_LOG_MESSAGE
    # The list the user lands on shows the job as cancelled.
    assert 'class="ft-badge ft-badge-cancelled"' in response.text


def test_a_running_job_is_cancelled_at_the_provider(
    canceller_client, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)

    response = confirm_cancel(canceller_client, job)

    assert messages_of(response) == [CANCEL_DONE.format(job=job)]
    assert provider.calls_to("cancel_job") == [remote.id]
    assert provider.jobs[remote.id].status == "cancelled"
    job.refresh_from_db()
    assert job.status == FinetuningStatus.CANCELLED


def test_a_finished_job_is_reported_and_left_alone(
    canceller_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED, model_id="ft:gpt:1")

    response = confirm_cancel(canceller_client, job)

    assert messages_of(response) == [
        CANCEL_ALREADY_FINISHED.format(job=job, status=FinetuningStatus.SUCCEEDED)
    ]
    job.refresh_from_db()
    assert job.status == FinetuningStatus.SUCCEEDED
    assert not LogEntry.objects.exists()


def test_an_already_cancelled_job_is_reported_as_such(canceller_client, finetuning):
    confirm_cancel(canceller_client, finetuning)

    response = confirm_cancel(canceller_client, finetuning)

    assert messages_of(response) == [CANCEL_ALREADY_CANCELLED.format(job=finetuning)]
    assert LogEntry.objects.count() == 1


def test_an_unreachable_provider_is_reported_and_the_job_left_as_it_was(
    canceller_client, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.unreachable("cancel_job")

    response = confirm_cancel(canceller_client, job)

    (message,) = messages_of(response)
    expected_start = CANCEL_PROVIDER_UNREACHABLE.format(job=job, detail="").removesuffix("()")
    assert message.startswith(expected_start)
    assert message_levels(response) == ["error"]
    assert provider.calls_to("cancel_job") == [remote.id]
    job.refresh_from_db()
    assert job.status == FinetuningStatus.RUNNING
    assert job.cancelled_by is None
    assert job.cancel_lease_until is None  # a retry may try again at once


def test_a_bulk_cancel_reports_each_job(
    canceller_client, connection, golden_records, make_finetuning, provider
):
    queued = make_finetuning(connection, alias="queued-one")
    finished = make_finetuning(connection, alias="failed-one", status=FinetuningStatus.FAILED)
    remote = provider.add_job(status="running")
    stuck = make_finetuning(
        connection, alias="stuck", status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id
    )
    provider.unreachable("cancel_job")

    response = confirm_cancel(canceller_client, queued, finished, stuck)

    shown = messages_of(response)
    assert CANCEL_DONE.format(job=queued) in shown
    assert CANCEL_ALREADY_FINISHED.format(job=finished, status=FinetuningStatus.FAILED) in shown
    assert any(message.startswith(f"Did not cancel “{stuck}”: the provider") for message in shown)
    assert len(shown) == 3
    for job in (queued, finished, stuck):
        job.refresh_from_db()
    assert {job.alias: job.status for job in (queued, finished, stuck)} == {
        "queued-one": FinetuningStatus.CANCELLED,
        "failed-one": FinetuningStatus.FAILED,
        "stuck": FinetuningStatus.RUNNING,
    }


def test_a_bulk_cancel_is_bounded(canceller_client, active_jobs, monkeypatch):
    monkeypatch.setattr(FinetuningAdmin, "cancel_max_jobs", 1)

    response = confirm_cancel(canceller_client, *active_jobs)

    assert messages_of(response) == [CANCEL_TOO_MANY.format(limit=1)]
    for job in active_jobs:
        job.refresh_from_db()
        assert job.status == FinetuningStatus.QUEUED


def test_the_change_list_filters_survive_a_cancel(canceller_client, active_jobs):
    filters = "status__exact=queued"

    response = confirm_cancel(canceller_client, active_jobs[0], _changelist_filters=filters)

    assert response.redirect_chain[-1][0] == f"{changelist_url()}?{filters}"
    assert active_jobs[1].alias in response.text


def test_the_confirmation_page_does_not_load_the_jobs_golden_record_ids(
    canceller_client, active_jobs
):
    # The bulk action's queryset leaves out the long JSON fields, and the page reads none of
    # them (else each job would cost one more query).
    with CaptureQueriesContext(db) as queries:
        page = canceller_client.post(
            changelist_url(),
            {"action": CANCEL_ACTION, "_selected_action": [job.pk for job in active_jobs]},
        )

    assert page.status_code == HTTPStatus.OK
    assert "Are you sure" in page.text
    job_queries = [
        q["sql"] for q in queries.captured_queries if "finetunings_finetuning" in q["sql"]
    ]
    assert job_queries
    assert not [sql for sql in job_queries if '"golden_records"' in sql]


def test_a_bulk_cancel_stops_before_the_request_deadline_and_says_what_it_left(
    canceller_client,
    connection,
    golden_records,
    make_finetuning,
    settings,
    monkeypatch,
    openai_provider,
    real_provider,
):
    # Each provider cancel takes 10 s; the request may wait 3 s in all (room for a loaded
    # machine): the first cancel gives up at the deadline and the others are not attempted,
    # so the page answers
    # before the web server's own timeout would kill it.
    import io

    from tests.fakes.openai_server import CANCEL

    settings.OPENAI_TIMEOUT_SECONDS = 30
    settings.FINETUNING_REQUEST_DEADLINE_SECONDS = 3
    monkeypatch.setattr(FinetuningAdmin, "cancel_min_seconds_left", 0.5)
    file_id = real_provider.upload_training_file(filename="t.jsonl", file=io.BytesIO(b"{}\n"))
    jobs = []
    for index in range(3):
        remote = real_provider.create_job(
            training_file_id=file_id,
            model="gpt-4o-mini-2024-07-18",
            hyperparameters={},
            suffix=None,
            metadata={"finetuning_id": f"x{index}"},
        )
        jobs.append(
            make_finetuning(
                connection,
                alias=f"slow-{index}",
                status=FinetuningStatus.RUNNING,
                finetuning_job_id=remote.id,
            )
        )
    openai_provider.delay_next(CANCEL, 10, times=3)

    response = confirm_cancel(canceller_client, *jobs)

    shown = messages_of(response)
    assert len(openai_provider.calls_to(CANCEL)) == 1
    assert shown[0].startswith("Did not cancel “slow-")
    assert "the provider could not be reached" in shown[0]
    assert "did not answer within 30 seconds" not in shown[0]  # the deadline, not the timeout
    assert shown[1] == CANCEL_OUT_OF_TIME.format(count=2)
    for job in jobs:
        job.refresh_from_db()
        assert job.status == FinetuningStatus.RUNNING


# --- where the user lands ----------------------------------------------------------------


def test_a_cancel_from_the_job_page_returns_to_the_job(canceller_client, finetuning):
    confirmation = canceller_client.post(
        change_url(finetuning) + "?_changelist_filters=status__exact%3Dqueued",
        {CHANGE_FORM_ACTION: CANCEL_ACTION, "_selected_action": finetuning.pk},
    )
    assert f'name="_return_to_job" value="{finetuning.pk}"' in confirmation.text

    response = confirm_cancel(
        canceller_client,
        finetuning,
        _return_to_job=finetuning.pk,
        _changelist_filters="status__exact=queued",
    )

    assert response.redirect_chain[-1][0] == (
        f"{change_url(finetuning)}?_changelist_filters=status__exact%3Dqueued"
    )
    assert messages_of(response) == [CANCEL_DONE.format(job=finetuning)]


def test_a_bulk_cancel_confirmation_does_not_return_to_a_job(canceller_client, active_jobs):
    confirmation = canceller_client.post(
        changelist_url() + "?status__exact=queued",
        {"action": CANCEL_ACTION, "_selected_action": [job.pk for job in active_jobs]},
    )

    assert "_return_to_job" not in confirmation.text
    assert 'name="_changelist_filters" value="status__exact=queued"' in confirmation.text


def test_a_failed_cancel_is_in_the_timeline_and_history_and_lands_on_the_job(
    canceller, canceller_client, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.unreachable("cancel_job")

    response = confirm_cancel(canceller_client, job, _return_to_job=job.pk)

    assert response.redirect_chain[-1][0] == change_url(job)
    (message,) = messages_of(response)
    assert message.startswith(CANCEL_PROVIDER_UNREACHABLE.split("{detail}")[0].format(job=job))
    job.refresh_from_db()
    assert job.status == FinetuningStatus.RUNNING  # the job itself is unchanged
    event = FinetuningEvent.objects.filter(finetuning=job, kind="error").get()
    assert (event.actor, event.message) == ("staff user cora", message)
    log = LogEntry.objects.get()
    assert (log.user, log.object_id, log.get_change_message()) == (canceller, job.pk, message)
    assert "Cancel job" in response.text  # the retry is one click away


def test_a_bulk_cancel_of_one_job_from_the_list_returns_to_the_filtered_list(
    canceller_client, active_jobs
):
    confirmation = canceller_client.post(
        changelist_url() + "?status__exact=queued",
        {"action": CANCEL_ACTION, "_selected_action": [active_jobs[0].pk]},
    )

    assert "_return_to_job" not in confirmation.text
    assert 'name="_changelist_filters" value="status__exact=queued"' in confirmation.text
