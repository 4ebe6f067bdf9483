"""Starting a job from the admin's blank "add" form, through the same service as the API."""

from http import HTTPStatus

from django.conf import settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from finetunings.models import Finetuning, FinetuningEvent
from tests.helpers.admin import change_url, job_add_form, logged_in

ADD_URL = reverse("admin:finetunings_finetuning_add")


def test_a_blank_job_trains_on_all_of_the_connections_records_and_opens_it(
    make_staff, connection, golden_records
):
    staff = make_staff("stella", "view_finetuning", "add_finetuning")
    client = logged_in(staff)

    page = client.get(ADD_URL)
    response = client.post(ADD_URL, job_add_form(connection), follow=True)

    assert page.status_code == HTTPStatus.OK
    job = Finetuning.objects.get()
    assert response.redirect_chain[-1][0] == change_url(job)
    assert job.golden_records == [record.pk for record in golden_records]
    assert (job.model_provider, job.model_name, job.status) == (
        settings.FINETUNING_DEFAULT_PROVIDER,
        settings.FINETUNING_DEFAULT_MODEL,
        "queued",
    )
    assert job.alias.startswith(f"{connection.alias}_")
    assert FinetuningEvent.objects.get(finetuning=job, kind="created").actor == "staff user stella"
    assert LogEntry.objects.get(object_id=job.pk).action_flag == ADDITION


def test_a_job_started_with_listed_records_alias_and_metadata_keeps_them(
    superuser_client, connection, golden_records
):
    chosen = [record.pk for record in golden_records[:10]]

    superuser_client.post(
        ADD_URL,
        job_add_form(
            connection,
            alias="spring-run",
            golden_records=",\n".join(chosen),
            metadata='{"team": "growth"}',
        ),
    )

    job = Finetuning.objects.get()
    assert (job.alias, job.golden_records, job.metadata) == (
        "spring-run",
        chosen,
        {"team": "growth"},
    )


def test_unknown_records_are_named_on_the_form_and_nothing_is_started(
    superuser_client, connection, golden_records
):
    ids = [record.pk for record in golden_records[:10]] + ["gr_does_not_exist"]

    response = superuser_client.post(
        ADD_URL, job_add_form(connection, golden_records=" ".join(ids), alias="kept")
    )

    assert response.status_code == HTTPStatus.OK
    assert "gr_does_not_exist" in str(response.context["adminform"].form.errors["golden_records"])
    # The form comes back as it was sent, to be corrected.
    assert 'value="kept"' in response.text
    assert Finetuning.objects.count() == 0


def test_a_connection_with_too_few_records_is_refused_on_the_form(superuser_client, connection):
    response = superuser_client.post(ADD_URL, job_add_form(connection))

    assert response.status_code == HTTPStatus.OK
    assert "At least" in str(response.context["adminform"].form.errors["golden_records"])
    assert Finetuning.objects.count() == 0


def test_a_model_the_provider_cannot_fine_tune_is_refused(
    superuser_client, connection, golden_records
):
    response = superuser_client.post(ADD_URL, job_add_form(connection, model_name="gpt-unknown"))

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["model_name"]
    assert Finetuning.objects.count() == 0


def test_the_job_page_offers_start_again_and_cancel_as_buttons_not_a_dropdown(
    superuser_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)

    page = superuser_client.get(change_url(job))

    assert page.text.count("Start again with the same golden records") == 1
    assert page.text.count("Cancel job") == 1
    # The actions' dropdown offered the same two again (and a cancel of finished jobs).
    assert '<select name="CHANGE_FORM-action"' not in page.text


def test_starting_a_job_needs_the_add_permission(make_staff, connection, golden_records):
    viewer = logged_in(make_staff("vic", "view_finetuning", "cancel_finetuning"))

    page = viewer.get(ADD_URL)
    viewer.post(ADD_URL, job_add_form(connection))

    assert page.status_code == HTTPStatus.FORBIDDEN
    assert Finetuning.objects.count() == 0
