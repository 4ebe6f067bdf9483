"""The validation split in the admin: asked for on the add form, shown on the job page, and
kept when a job is started again."""

from http import HTTPStatus

from django.conf import settings
from django.contrib.admin.options import ActionLocation
from django.urls import reverse

from finetunings import validation_split, worker
from finetunings.admin import START_AGAIN_ACTION
from finetunings.models import Finetuning, FinetuningStatus
from tests.admin.helpers import change_url

ADD_URL = reverse("admin:finetunings_finetuning_add")


def add_form(connection, **overrides):
    return {
        "db_connection": connection.pk,
        "alias": "",
        "model_provider": settings.FINETUNING_DEFAULT_PROVIDER,
        "model_name": settings.FINETUNING_DEFAULT_MODEL,
        "golden_records": "",
        "validation_golden_records": "",
        "validation_fraction": "",
        "metadata": "",
        **overrides,
    }


def test_a_fraction_on_the_add_form_draws_the_split(
    superuser_client, connection, make_golden_records
):
    records = [record.pk for record in make_golden_records(connection, count=20)]

    superuser_client.post(ADD_URL, add_form(connection, validation_fraction="0.2"))

    job = Finetuning.objects.get()
    assert len(job.validation_golden_records) == 4
    assert sorted(job.golden_records + job.validation_golden_records) == sorted(records)
    assert job.validation_seed is not None


def test_listed_validation_ids_on_the_add_form_are_held_out(
    superuser_client, connection, golden_records
):
    held_out = [golden_records[0].pk, golden_records[1].pk]

    superuser_client.post(
        ADD_URL, add_form(connection, validation_golden_records=",\n".join(held_out))
    )

    job = Finetuning.objects.get()
    assert job.validation_golden_records == held_out
    assert len(job.golden_records) == len(golden_records) - 2


def test_the_add_form_shows_the_services_refusal_next_to_the_field(
    superuser_client, connection, golden_records
):
    response = superuser_client.post(
        ADD_URL,
        add_form(
            connection,
            validation_golden_records=golden_records[0].pk,
            validation_fraction="0.2",
        ),
    )

    assert response.status_code == HTTPStatus.OK
    assert not Finetuning.objects.exists()
    assert response.context["adminform"].form.errors["validation_fraction"] == [
        validation_split.BOTH_GIVEN_MESSAGE
    ]


def test_the_job_page_shows_the_split_and_links_its_file(
    superuser_client, openai_provider, connection, make_golden_records
):
    make_golden_records(connection, count=20)
    superuser_client.post(ADD_URL, add_form(connection, validation_fraction="0.25"))
    job = Finetuning.objects.get()
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    job.refresh_from_db()

    page = superuser_client.get(change_url(job)).content.decode()

    assert "5 golden records held out" in page
    assert f"drawn with fraction 0.25, seed {job.validation_seed}" in page
    assert reverse("api:finetuning-validation-file", args=[job.pk]) in page
    assert job.validation_file_id in page


def test_start_again_holds_out_the_same_records(superuser_client, connection, golden_records):
    old_ids = [record.pk for record in golden_records]
    superuser_client.post(ADD_URL, add_form(connection, validation_golden_records=old_ids[0]))
    old = Finetuning.objects.get()
    Finetuning.objects.filter(pk=old.pk).update(status=FinetuningStatus.FAILED)

    superuser_client.post(
        change_url(old),
        {
            f"{ActionLocation.CHANGE_FORM.value}-action": START_AGAIN_ACTION,
            "_selected_action": old.pk,
        },
    )

    new = Finetuning.objects.exclude(pk=old.pk).get()
    assert new.validation_golden_records == [old_ids[0]]
    assert new.golden_records == old.golden_records
