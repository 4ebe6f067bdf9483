"""Webhook notifications: signed, sent once per job's end, retried, logged, never inward."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from finetunings import notifications, worker
from finetunings.models import (
    FinetuningStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEventType,
)


class Receiver:
    """A webhook receiver on loopback that records each request and answers ``statuses``."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"no thanks" if status >= 400 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _headers, body in self.requests]


@pytest.fixture
def receiver(settings):
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # loopback, for the test
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def endpoint_and_secret(receiver, db):
    return notifications.webhook_endpoint_create(url=receiver.url)


def ended(make_finetuning, connection, status, **fields):
    return make_finetuning(connection, status=status, finished_at=timezone.now(), **fields)


def test_a_receiver_gets_each_terminal_event_once_with_a_valid_signature(
    receiver, endpoint_and_secret, connection, golden_records, make_finetuning
):
    _endpoint, secret = endpoint_and_secret
    jobs = {
        status: ended(make_finetuning, connection, status)
        for status in (
            FinetuningStatus.SUCCEEDED,
            FinetuningStatus.FAILED,
            FinetuningStatus.CANCELLED,
        )
    }
    ended(make_finetuning, connection, FinetuningStatus.RUNNING)  # not an end: not sent

    worker.run_once(log=lambda message: None)
    worker.run_once(log=lambda message: None)

    assert sorted(receiver.events()) == sorted(WebhookEventType.values)
    for headers, body in receiver.requests:
        payload = Webhook(secret).verify(body, headers)  # raises if the signature is wrong
        status = payload["type"].removeprefix("finetuning.")
        assert payload["data"]["id"] == jobs[status].pk
        assert payload["data"]["status"] == status
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SUCCEEDED).count() == 3


def test_a_job_cancelled_through_the_api_is_told(api, receiver, endpoint_and_secret, finetuning):
    api.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel", {"metadata": {"why": "x"}}, format="json"
    )

    notifications.notifications_run_once()

    ((headers, body),) = receiver.requests
    payload = Webhook(endpoint_and_secret[1]).verify(body, headers)
    assert payload["type"] == "finetuning.cancelled"
    assert payload["data"]["metadata"] == {"why": "x"}


def test_a_failing_receiver_is_retried_later_with_the_same_message_id(
    settings, receiver, endpoint_and_secret, connection, golden_records, make_finetuning
):
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)
    receiver.statuses = [500]

    notifications.notifications_run_once()
    delivery = WebhookDelivery.objects.get()
    notifications.notifications_run_once()  # not due yet: nothing sent
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: no thanks"
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert wait == timedelta(seconds=settings.FINETUNING_WEBHOOK_BACKOFF_SECONDS)

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    notifications.notifications_run_once()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        "succeeded",
        2,
        200,
    )
    first, second = (headers["webhook-id"] for headers, _body in receiver.requests)
    assert first == second == delivery.message_id


def test_the_pause_doubles_and_the_delivery_fails_after_the_last_attempt(
    settings, receiver, endpoint_and_secret, connection, golden_records, make_finetuning
):
    settings.FINETUNING_WEBHOOK_MAX_ATTEMPTS = 3
    ended(make_finetuning, connection, FinetuningStatus.FAILED)
    receiver.statuses = [503, 503, 503]
    waits = []

    for _attempt in range(3):
        notifications.notifications_run_once()
        delivery = WebhookDelivery.objects.get()
        if delivery.next_attempt_at:
            waits.append((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())

    assert waits == [30, 60]
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(receiver.requests) == 3


def test_an_unreachable_receiver_is_logged(settings, connection, golden_records, make_finetuning):
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    notifications.webhook_endpoint_create(url="http://127.0.0.1:9/nobody-listens")
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)

    notifications.notifications_run_once()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("pending", 1, None)
    assert delivery.last_error.startswith("ConnectionError")


def test_a_redelivery_sends_the_same_message_again(
    receiver, endpoint_and_secret, connection, golden_records, make_finetuning
):
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)
    notifications.notifications_run_once()

    notifications.webhook_delivery_redeliver(delivery=WebhookDelivery.objects.get())
    notifications.notifications_run_once()

    assert receiver.events() == ["finetuning.succeeded", "finetuning.succeeded"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_jobs_that_ended_before_the_endpoint_existed_are_not_sent(
    receiver, connection, golden_records, make_finetuning
):
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)
    notifications.webhook_endpoint_create(url=receiver.url)
    from finetunings.models import WebhookEndpoint

    WebhookEndpoint.objects.update(created_at=timezone.now() + timedelta(seconds=1))

    notifications.notifications_run_once()

    assert receiver.requests == []


def test_only_chosen_events_of_active_endpoints_are_sent(
    receiver, connection, golden_records, make_finetuning
):
    notifications.webhook_endpoint_create(url=receiver.url, events=["finetuning.failed"])
    notifications.webhook_endpoint_create(url=receiver.url + "/off", active=False)
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)
    ended(make_finetuning, connection, FinetuningStatus.FAILED)

    notifications.notifications_run_once()

    assert receiver.events() == ["finetuning.failed"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_and_loopback_addresses_are_refused_by_default(db, url):
    with pytest.raises(notifications.errors.ValidationFailed) as refused:
        notifications.webhook_endpoint_create(url=url)

    assert "private, loopback or link-local" in refused.value.errors["url"][0]


def test_a_name_that_resolves_to_loopback_is_refused_when_sending(
    settings, receiver, connection, golden_records, make_finetuning
):
    named = receiver.url.replace("127.0.0.1", "localhost")
    notifications.webhook_endpoint_create(url=named)  # allowed while the setting is on
    settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    ended(make_finetuning, connection, FinetuningStatus.SUCCEEDED)

    notifications.notifications_run_once()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"  # retrying would not change the address
    assert "private, loopback or link-local" in delivery.last_error
    assert receiver.requests == []


def test_a_failure_of_the_hook_does_not_break_the_worker_pass(monkeypatch, db):
    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(notifications, "notifications_enqueue", broken)

    notifications.notifications_run_once()  # logged, not raised
