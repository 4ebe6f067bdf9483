"""/webhook-endpoints and /webhook-deliveries: register receivers, read the log, redeliver."""

from http import HTTPStatus

from django.utils import timezone

from finetunings import notifications
from finetunings.models import FinetuningStatus, WebhookDelivery, WebhookEndpoint

ENDPOINTS = "/api/v1/webhook-endpoints"
DELIVERIES = "/api/v1/webhook-deliveries"


def test_registering_shows_the_secret_once(api, settings):
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    created = api.post(ENDPOINTS, {"url": "http://127.0.0.1:9999/hook"}, format="json")

    shown = api.get(f"{ENDPOINTS}/{created.json()['id']}")

    assert created.status_code == HTTPStatus.CREATED
    assert created.json()["secret"].startswith("whsec_")
    assert created.json()["events"] == [
        "finetuning.succeeded",
        "finetuning.failed",
        "finetuning.cancelled",
    ]
    assert "secret" not in shown.json()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == created.json()["secret"]
    assert created.json()["secret"] not in endpoint.secret_encrypted  # encrypted at rest


def test_a_private_address_is_a_400_that_names_the_setting(api, db):
    response = api.post(ENDPOINTS, {"url": "http://10.0.0.5/hook"}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES" in response.json()["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_unknown_events_are_a_400(api, db):
    response = api.post(
        ENDPOINTS, {"url": "https://hooks.example.com/x", "events": ["job.done"]}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "events.0" in response.json()["errors"]


def test_an_endpoint_can_be_paused_and_deleted(api, db):
    endpoint, _secret = notifications.webhook_endpoint_create(url="https://hooks.example.com/x")

    paused = api.patch(f"{ENDPOINTS}/{endpoint.pk}", {"active": False}, format="json")
    deleted = api.delete(f"{ENDPOINTS}/{endpoint.pk}")

    assert paused.json()["active"] is False
    assert deleted.status_code == HTTPStatus.NO_CONTENT


def test_the_delivery_log_is_listed_per_endpoint_and_can_be_redelivered(
    api, connection, golden_records, make_finetuning
):
    endpoint, _secret = notifications.webhook_endpoint_create(url="https://hooks.example.com/x")
    make_finetuning(connection, status=FinetuningStatus.SUCCEEDED, finished_at=timezone.now())
    notifications.notifications_enqueue()
    WebhookDelivery.objects.update(
        status="failed", attempts=8, last_response_code=500, last_error="HTTP 500: down"
    )

    listed = api.get(DELIVERIES, {"endpoint_id": endpoint.pk}).json()["results"]
    redelivered = api.post(f"{DELIVERIES}/{listed[0]['id']}/redeliver")

    assert [(d["status"], d["attempts"], d["last_response_code"]) for d in listed] == [
        ("failed", 8, 500)
    ]
    assert listed[0]["event_type"] == "finetuning.succeeded"
    assert redelivered.status_code == HTTPStatus.OK
    assert (redelivered.json()["status"], redelivered.json()["attempts"]) == ("pending", 0)


def test_an_empty_status_filter_on_the_delivery_log_is_a_400_not_ignored(api, db):
    response = api.get(f"{DELIVERIES}?status=")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "status" in response.json()["errors"]


def test_the_endpoint_list_documents_its_400(api):
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    assert "400" in schema["paths"]["/api/v1/webhook-endpoints"]["get"]["responses"]


def test_a_description_that_is_not_a_string_is_a_400(api, settings):
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = api.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9999/hook", "description": 3.5}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "description" in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()
