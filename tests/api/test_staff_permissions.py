"""A staff session may do through the API only what its Django model permissions allow."""

from http import HTTPStatus

import pytest
from django.test import Client
from rest_framework.test import APIClient

from finetunings.errors import ErrorCode
from finetunings.models import Finetuning, FinetuningStatus
from tests.helpers.admin import changelist_url


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def job_url(job, suffix: str = "") -> str:
    return f"/api/v1/finetunings/{job.pk}{suffix}"


def test_a_view_only_staff_member_can_read_jobs(make_staff, finetuning):
    viewer = session(make_staff("vic", "view_finetuning"))

    assert viewer.get("/api/v1/finetunings").status_code == HTTPStatus.OK
    assert viewer.get(job_url(finetuning)).status_code == HTTPStatus.OK
    assert viewer.get(job_url(finetuning, "/events")).status_code == HTTPStatus.OK
    assert viewer.options(job_url(finetuning)).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("post", "/cancel", {}),
        ("delete", "", None),
        ("patch", "", {"alias": "renamed"}),
    ],
    ids=["cancel", "delete", "edit"],
)
def test_a_view_only_staff_member_cannot_change_a_job(make_staff, finetuning, method, suffix, body):
    viewer = session(make_staff("vic", "view_finetuning"))

    response = getattr(viewer, method)(job_url(finetuning, suffix), body, format="json")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {
        "detail": "You do not have permission to perform this action.",
        "code": ErrorCode.PERMISSION_DENIED,
    }
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert finetuning.alias != "renamed"


def test_a_view_only_staff_member_cannot_create_a_job(make_staff, connection, golden_records):
    viewer = session(make_staff("vic", "view_finetuning"))

    response = viewer.post(
        "/api/v1/finetunings", {"db_connection_id": connection.pk}, format="json"
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Finetuning.objects.exists()


def test_a_staff_member_without_view_cannot_read_jobs(make_staff, finetuning):
    # Other permissions (here on connections) do not open the jobs.
    stranger = session(make_staff("sam", "view_databaseconnection"))

    assert stranger.get("/api/v1/finetunings").status_code == HTTPStatus.FORBIDDEN
    assert stranger.get(job_url(finetuning, "/events")).status_code == HTTPStatus.FORBIDDEN
    assert stranger.get("/api/v1/database-connections").status_code == HTTPStatus.OK


def test_cancel_needs_view_as_well_as_the_cancel_permission(make_staff, finetuning):
    blind = session(make_staff("bea", "cancel_finetuning"))

    assert blind.post(job_url(finetuning, "/cancel")).status_code == HTTPStatus.FORBIDDEN
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


def test_a_staff_member_with_the_cancel_permission_can_cancel(make_staff, finetuning):
    canceller = session(make_staff("cora", "view_finetuning", "cancel_finetuning"))

    response = canceller.post(job_url(finetuning, "/cancel"), {}, format="json")

    assert response.status_code == HTTPStatus.OK
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.CANCELLED
    assert finetuning.cancelled_by == "staff user cora"


def test_the_cancel_permission_does_not_allow_creating(make_staff, connection):
    canceller = session(make_staff("cora", "view_finetuning", "cancel_finetuning"))
    response = canceller.post(
        "/api/v1/finetunings", {"db_connection_id": connection.pk}, format="json"
    )

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_a_superuser_can_do_everything(django_user_model, connection, golden_records):
    root = session(django_user_model.objects.create_superuser("root", password="pw"))

    created = root.post("/api/v1/finetunings", {"db_connection_id": connection.pk}, format="json")
    assert created.status_code == HTTPStatus.CREATED
    url = f"/api/v1/finetunings/{created.json()['id']}"
    assert root.get(url).status_code == HTTPStatus.OK
    assert root.patch(url, {"alias": "renamed"}, format="json").status_code == HTTPStatus.OK
    assert root.post(f"{url}/cancel", {}, format="json").status_code == HTTPStatus.OK
    assert root.delete(url).status_code == HTTPStatus.NO_CONTENT


def test_an_api_key_keeps_the_whole_api(api, connection, golden_records):
    created = api.post("/api/v1/finetunings", {"db_connection_id": connection.pk}, format="json")
    assert created.status_code == HTTPStatus.CREATED
    url = f"/api/v1/finetunings/{created.json()['id']}"
    assert api.get(url).status_code == HTTPStatus.OK
    assert api.post(f"{url}/cancel", {}, format="json").status_code == HTTPStatus.OK
    assert api.delete(url).status_code == HTTPStatus.NO_CONTENT


@pytest.mark.django_db
def test_no_credentials_is_still_401(anonymous_api):
    response = anonymous_api.post("/api/v1/finetunings/abc/cancel")

    assert response.status_code == HTTPStatus.UNAUTHORIZED


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
