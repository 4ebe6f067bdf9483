"""Failing tests from the review of the admin: each one shows a bug a staff member would hit.

Every test fails on SQLite except ``test_filter_values_with_nul_characters_...``, which
fails on PostgreSQL only (SQLite stores NUL characters; PostgreSQL text cannot).
"""

import re
from http import HTTPStatus

import pytest
from django.core.files.base import ContentFile
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus
from tests.admin.helpers import change_url, changelist_url, logged_in
from tests.admin.test_other_pages import SECRET, connection_form

# --- permissions and secrets ---------------------------------------------------------------


def test_a_staff_member_who_may_only_view_connections_is_not_shown_their_uri(
    make_staff, connection
):
    # Django shows every field of a view-only change page as read-only text, and
    # ``connection_uri`` is a property that decrypts the stored URI.
    auditor = logged_in(make_staff("audrey", "view_databaseconnection"))

    page = auditor.get(change_url(connection, "databaseconnection"))

    assert page.status_code == HTTPStatus.OK
    assert "postgresql://***@db.internal:5432/shop" in page.text
    assert SECRET not in page.text


def test_a_staff_member_without_the_cancel_permission_cannot_cancel_through_the_api(
    make_staff, finetuning
):
    # The admin hides and refuses the cancel action, but the same admin session is accepted
    # by the REST API for any staff user, whatever their permissions.
    viewer = make_staff("vic", "view_finetuning")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(viewer)
    browser.get(changelist_url())  # an admin page sets the CSRF cookie, as in a browser
    token = browser.cookies["csrftoken"].value

    response = browser.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        {},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


def test_a_mistyped_uri_is_refused_without_showing_its_password(superuser_client, connection):
    # A "#" (or "/" or "?") in an unencoded password ends the host part early; the
    # "port" error then quotes the password back on the page.
    response = superuser_client.post(
        change_url(connection, "databaseconnection"),
        connection_form(connection, connection_uri="postgresql://reader:n3w#pass@db.internal/shop"),
    )

    assert response.status_code == HTTPStatus.OK  # refused, the form is shown again
    assert "connection_uri" in response.context["adminform"].form.errors
    assert "n3w" not in response.text


# --- fine-tuning jobs with long histories --------------------------------------------------


def rendered_form_data(page) -> dict[str, str]:
    """The hidden inline fields the browser sends back with the change form."""
    return dict(
        re.findall(r'<input type="hidden" name="(events-[^"]+)" value="([^"]*)"', page.text)
    )


def test_the_alias_of_a_job_with_a_long_timeline_can_be_edited(
    editor_client, connection, golden_records, make_finetuning
):
    # Every timeline row is a read-only inline form with two hidden inputs; past ~500 events
    # the change form sends more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) and gets a 400.
    job = make_finetuning(connection, alias="old-name")
    FinetuningEvent.objects.bulk_create(
        FinetuningEvent(finetuning=job, kind="provider_event", message=f"Step {i}: loss 0.4")
        for i in range(600)
    )
    page = editor_client.get(change_url(job))

    response = editor_client.post(
        change_url(job),
        {**rendered_form_data(page), "alias": "new-name", "metadata": "null", "_save": "Save"},
    )

    assert response.status_code == HTTPStatus.FOUND
    job.refresh_from_db()
    assert job.alias == "new-name"


def test_the_change_page_of_a_job_with_thousands_of_events_stays_light(
    viewer_client, connection, golden_records, make_finetuning
):
    # A long training run reports thousands of provider events; the inline renders them all
    # (about 2.4 kB each: 5,000 events make a 12 MB page that takes seconds to build).
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING)
    FinetuningEvent.objects.bulk_create(
        FinetuningEvent(finetuning=job, kind="provider_event", message=f"Step {i}: loss 0.4")
        for i in range(2_000)
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert len(page.content) < 1_000_000


def test_the_change_page_of_a_job_with_100000_golden_records_stays_light(
    viewer_client, connection, golden_records, make_finetuning
):
    # The API allows 100,000 golden record ids; the read-only field prints every one (3.8 MB).
    job = make_finetuning(connection)
    Finetuning.objects.filter(pk=job.pk).update(
        golden_records=[f"{i:024x}" for i in range(100_000)]
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert "100000" in page.text or "100,000" in page.text  # the count is still shown
    assert len(page.content) < 1_000_000


def test_the_change_list_does_not_load_every_jobs_golden_record_ids(
    viewer_client, connection, golden_records, make_finetuning
):
    # The list shows no golden record ids, yet its page query reads the whole JSON list of
    # each job: 50 jobs of 100,000 ids take the page from 0.03 s to 2 s on PostgreSQL.
    make_finetuning(connection)

    with CaptureQueriesContext(db_connection) as queries:
        page = viewer_client.get(changelist_url())

    assert page.status_code == HTTPStatus.OK
    (page_query,) = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "finetunings_finetuning"' in q["sql"] and "COUNT(" not in q["sql"]
    ]
    assert '"golden_records"' not in page_query


def test_the_change_page_shows_the_training_file_summary(
    viewer_client, connection, golden_records, make_finetuning
):
    # "The change page shows every field": the training file's checksum, size and summary
    # (what the API returns with it) are on no fieldset.
    job = make_finetuning(connection, finetuning_file_id="file-xyz789")
    job.training_file.save(f"{job.pk}.jsonl", ContentFile(b'{"messages": []}\n'))
    sha256 = "9f" * 32
    Finetuning.objects.filter(pk=job.pk).update(
        training_file_sha256=sha256,
        training_file_size=17,
        training_summary={"sha256": sha256, "bytes": 17, "examples": 12},
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert sha256 in page.text


# --- odd filter values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_name", "params"),
    [
        ("finetuning", {"db_connection": "shop\x00"}),
        ("finetuning", {"provider": "openai\x00"}),
        ("finetuning", {"status__exact": "queued\x00"}),
        ("goldenrecord", {"db_connection": "shop\x00"}),
    ],
    ids=["job-connection", "job-provider", "job-status", "golden-record-connection"],
)
def test_filter_values_with_nul_characters_do_not_crash_the_change_list(
    superuser_client, finetuning, model_name, params
):
    # PostgreSQL only: its text columns cannot hold NUL, so the query fails with a 500.
    superuser_client.raise_request_exception = False

    response = superuser_client.get(changelist_url(model_name), params)

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}
