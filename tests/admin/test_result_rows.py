"""The job list's rows, planned once a page: the same HTML as Django's own ``result_list``."""

from http import HTTPStatus

import pytest
from django.contrib.admin.templatetags import admin_list
from django.template.loader import get_template
from django.urls import reverse_lazy
from django.utils import timezone

from finetunings.admin import result_rows
from finetunings.admin.jobs import FinetuningAdmin
from finetunings.models import (
    Finetuning,
    FinetuningMetric,
    FinetuningStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.helpers.admin import changelist_url


@pytest.fixture
def listed_jobs(connection, golden_records, make_finetuning, make_connection, make_golden_records):
    succeeded = make_finetuning(
        connection,
        alias="sales-model",
        status=FinetuningStatus.SUCCEEDED,
        finetuning_job_id="ftjob-abc123",
        finetuning_file_id="file-xyz789",
        model_id="ft:gpt-4o-mini:acme::done",
    )
    FinetuningMetric.objects.create(finetuning=succeeded, step=50, total_steps=50, train_loss=0.1)
    running = make_finetuning(
        connection, alias="""<b>"odd" & 'odd'</b>""", status=FinetuningStatus.RUNNING
    )
    FinetuningMetric.objects.create(finetuning=running, step=3, total_steps=40, train_loss=0.5)
    warehouse = make_connection(alias="<i>warehouse</i>")
    make_golden_records(warehouse)
    make_finetuning(warehouse, alias="queued-job")
    # A key that admin quoting and URL quoting both change (ours are hex; Django's are not).
    Finetuning.objects.create(
        id="a/b c_d&e'f?", db_connection=connection, alias="odd-key", model_name="gpt-4o-mini"
    )


def rendered(context: dict) -> str:
    return get_template("admin/change_list_results.html").render(context)


@pytest.mark.parametrize(
    "params",
    [{}, {"status__exact": "running"}, {"q": "sales"}, {"o": "-2.6"}, {"q": "a/b c_d&e'f?"}],
)
@pytest.mark.parametrize("client_name", ["viewer_client", "superuser_client"])
def test_the_rows_are_the_html_django_renders(request, listed_jobs, client_name, params):
    page = request.getfixturevalue(client_name).get(changelist_url(), params)
    assert page.status_code == HTTPStatus.OK
    cl = page.context["cl"]

    planned = rendered(result_rows.result_list(cl))

    assert cl.result_list
    assert planned == rendered(admin_list.result_list(cl))
    assert planned in page.text


def test_the_job_list_renders_no_cell_through_django(viewer_client, listed_jobs, monkeypatch):
    calls = []
    djangos = admin_list.items_for_result
    monkeypatch.setattr(
        admin_list, "items_for_result", lambda *args: calls.append(args) or djangos(*args)
    )

    page = viewer_client.get(changelist_url())

    assert "ft:gpt-4o-mini:acme::done" in page.text
    assert calls == []


def test_columns_the_plan_does_not_cover_are_left_to_django(
    viewer_client, listed_jobs, monkeypatch
):
    # A model property and __str__: Django's own lookups render the whole list.
    list_display = [*FinetuningAdmin.list_display, "is_active", "__str__"]
    monkeypatch.setattr(FinetuningAdmin, "list_display", list_display)
    calls = []
    djangos = admin_list.items_for_result
    monkeypatch.setattr(
        admin_list, "items_for_result", lambda *args: calls.append(args) or djangos(*args)
    )

    page = viewer_client.get(changelist_url(), {"q": "sales"})

    assert page.status_code == HTTPStatus.OK
    assert '<td class="field-__str__">sales-model (' in page.text
    assert len(calls) == 1


@pytest.fixture
def other_lists(api_key, golden_records, finetuning, django_user_model):
    django_user_model.objects.create_user("<ann>", "ann@example.com", is_staff=True)
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/a?b=<c>", events=["job.succeeded"], secret_encrypted="x"
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        finetuning=finetuning,
        event_type="job.succeeded",
        message_id="msg-1",
        payload={},
        attempts=2,
        last_response_code=503,
        last_attempt_at=timezone.now(),
    )


@pytest.mark.parametrize(
    "url",
    [
        reverse_lazy("admin:auth_user_changelist"),
        reverse_lazy("admin:finetunings_apikey_changelist"),
        reverse_lazy("admin:finetunings_databaseconnection_changelist"),
        reverse_lazy("admin:finetunings_goldenrecord_changelist"),
        reverse_lazy("admin:finetunings_webhookendpoint_changelist"),
        reverse_lazy("admin:finetunings_webhookdelivery_changelist"),
    ],
)
def test_other_lists_rows_would_be_the_html_django_renders(superuser_client, other_lists, url):
    # Integer keys, relations, booleans' icons, links in a URL column, JSON, choices, numbers.
    page = superuser_client.get(url)
    assert page.status_code == HTTPStatus.OK
    cl = page.context["cl"]

    assert cl.result_list
    assert rendered(result_rows.result_list(cl)) == rendered(admin_list.result_list(cl))
