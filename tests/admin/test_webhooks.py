"""Webhook endpoints and the delivery log in the admin."""

from django.urls import reverse
from django.utils import timezone

from finetunings import notifications
from finetunings.admin.webhooks import REDELIVERY_QUEUED
from finetunings.models import FinetuningStatus, WebhookDelivery, WebhookEndpoint
from tests.helpers.admin import messages_of


def test_registering_an_endpoint_shows_its_secret_once(superuser_client):
    response = superuser_client.post(
        reverse("admin:finetunings_webhookendpoint_add"),
        {
            "url": "https://hooks.example.com/ft",
            "events": ["finetuning.succeeded", "finetuning.failed"],
            "active": "on",
            "description": "",
        },
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["finetuning.succeeded", "finetuning.failed"]
    assert any(endpoint.secret in message for message in messages_of(response))


def test_a_private_address_is_refused_in_the_form(superuser_client):
    response = superuser_client.post(
        reverse("admin:finetunings_webhookendpoint_add"),
        {"url": "http://127.0.0.1/x", "events": ["finetuning.failed"], "active": "on"},
    )

    assert "private, loopback or link-local" in response.text
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_redelivers(superuser_client, connection, golden_records, make_finetuning):
    notifications.webhook_endpoint_create(url="https://hooks.example.com/ft")
    make_finetuning(connection, status=FinetuningStatus.FAILED, finished_at=timezone.now())
    notifications.notifications_enqueue()
    WebhookDelivery.objects.update(status="failed", attempts=8)
    delivery = WebhookDelivery.objects.get()
    url = reverse("admin:finetunings_webhookdelivery_changelist")

    page = superuser_client.get(url)
    response = superuser_client.post(
        url, {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True
    )

    assert "finetuning.failed" in page.text
    assert messages_of(response) == [REDELIVERY_QUEUED.format(count=1)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
