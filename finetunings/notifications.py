"""Outgoing notifications: tell registered webhook endpoints when a fine-tuning job ends.

Messages are signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature`` headers, with the ``standardwebhooks`` library), so receivers can use
any Standard Webhooks verifier. The worker calls ``notifications_run_once`` in each pass:
it records one delivery per (endpoint, job, event) for jobs that ended since the endpoint
was registered, then sends the deliveries that are due, each claimed with a lease so that
several workers never send one twice at once. A failed attempt is retried with a doubling
pause; the delivery row is the log (status, attempts, last response code and error).

Requests to private, loopback or link-local addresses are refused unless
``FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is set: an endpoint URL must not become a way
to reach the service's own network.
"""

import ipaddress
import json
import logging
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from finetunings import crypto, errors
from finetunings.models import (
    Finetuning,
    FinetuningStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
)

logger = logging.getLogger(__name__)

EVENT_OF_STATUS = {
    FinetuningStatus.SUCCEEDED: WebhookEventType.SUCCEEDED,
    FinetuningStatus.FAILED: WebhookEventType.FAILED,
    FinetuningStatus.CANCELLED: WebhookEventType.CANCELLED,
}
PRIVATE_ADDRESS_MESSAGE = (
    "{host} is a private, loopback or link-local address; webhooks are not sent there unless "
    "FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is set."
)
USER_AGENT = "finetuning-service-webhooks/1"
# How much of a receiver's answer the log keeps.
ERROR_SHOWN = 500


# --- Endpoints ---------------------------------------------------------------------------


def _new_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _blocked_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def url_problems(url: str) -> list[str]:
    """What is wrong with an endpoint URL, as far as can be told without resolving it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return ["Not a valid URL."]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ["Must be an http:// or https:// URL with a host."]
    if settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return []
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return [PRIVATE_ADDRESS_MESSAGE.format(host=host)]
    try:
        if _blocked_address(host):
            return [PRIVATE_ADDRESS_MESSAGE.format(host=host)]
    except ValueError:
        pass  # a name: checked when it is resolved, at each delivery
    return []


def _events_problems(events) -> list[str]:
    if not isinstance(events, list) or not events:
        return ["Must list at least one event."]
    unknown = [event for event in events if event not in WebhookEventType.values]
    if unknown:
        return [f"Unknown events {unknown}; choose from {', '.join(WebhookEventType.values)}."]
    return []


def _raise_if(problems: dict[str, list[str]]) -> None:
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise errors.ValidationFailed(problems)


def webhook_endpoint_create(
    *, url: str, events: list[str] | None = None, active: bool = True, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it with its signing secret (shown to the user once)."""
    events = list(WebhookEventType.values) if events is None else list(dict.fromkeys(events))
    _raise_if({"url": url_problems(url), "events": _events_problems(events)})
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=events,
        active=active,
        description=description,
        secret_encrypted=crypto.encrypt(secret),
    )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    problems = {}
    if "url" in changes:
        problems["url"] = url_problems(changes["url"])
    if "events" in changes:
        changes["events"] = (
            list(dict.fromkeys(changes["events"]))
            if isinstance(changes["events"], list)
            else changes["events"]
        )
        problems["events"] = _events_problems(changes["events"])
    _raise_if(problems)
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again at the next pass, whatever became of it (same message id)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        lease_until=None,
    )
    delivery.refresh_from_db()
    return delivery


# --- The worker's part ----------------------------------------------------------------------


def payload_of(job: Finetuning, event_type: str) -> dict:
    return {
        "type": event_type,
        "timestamp": (job.finished_at or timezone.now()).isoformat(),
        "data": {
            "id": job.pk,
            "alias": job.alias,
            "status": job.status,
            "db_connection_id": job.db_connection_id,
            "model_provider": job.model_provider,
            "model_name": job.model_name,
            "model_id": job.model_id,
            "error": job.error,
            "metadata": job.metadata,
            "finished_at": job.finished_at,
        },
    }


def notifications_enqueue(*, limit: int = 500) -> int:
    """Record a delivery for each job that ended since each active endpoint was registered."""
    created = 0
    for endpoint in WebhookEndpoint.objects.filter(active=True):
        for status, event_type in EVENT_OF_STATUS.items():
            if event_type not in endpoint.events:
                continue
            told = WebhookDelivery.objects.filter(
                endpoint=endpoint, finetuning=OuterRef("pk"), event_type=event_type
            )
            jobs = (
                Finetuning.objects.filter(status=status, finished_at__gte=endpoint.created_at)
                .exclude(Exists(told))
                .defer(
                    "golden_records",
                    "training_summary",
                    "validation_golden_records",
                    "validation_summary",
                )
                .order_by("finished_at", "id")[:limit]
            )
            deliveries = [
                WebhookDelivery(
                    endpoint=endpoint,
                    finetuning=job,
                    event_type=event_type,
                    message_id=f"msg_{secrets.token_hex(16)}",
                    payload=json.loads(
                        json.dumps(payload_of(job, event_type), cls=DjangoJSONEncoder)
                    ),
                    next_attempt_at=timezone.now(),
                )
                for job in jobs
            ]
            # Two workers may enqueue the same job's event at once: the constraint keeps one.
            created += len(WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True))
    return created


def _claim_due(*, limit: int) -> list[WebhookDelivery]:
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status=WebhookDeliveryStatus.PENDING,
    )
    lease = now + timedelta(seconds=settings.FINETUNING_WEBHOOK_TIMEOUT_SECONDS * 3)
    claimed = []
    for delivery in due.select_related("endpoint").order_by("next_attempt_at", "id")[:limit]:
        # A conditional update per row: of several workers, one wins each delivery.
        if due.filter(pk=delivery.pk).update(lease_until=lease):
            claimed.append(delivery)
    return claimed


def _refusal(url: str) -> str | None:
    """Why this URL must not be called now (a name that resolves to a private address)."""
    if settings.FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        return f"Could not resolve {host}: {exc}"
    for address in addresses:
        if _blocked_address(address):
            return PRIVATE_ADDRESS_MESSAGE.format(host=f"{host} ({address})")
    return None


def _send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST one delivery; return the response code (None if there was none) and an error."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    now = timezone.now()
    signature = Webhook(endpoint.secret).sign(delivery.message_id, now, body)
    try:
        response = requests.post(
            endpoint.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
            timeout=settings.FINETUNING_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,  # a redirect could lead anywhere, private addresses too
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_SHOWN]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:ERROR_SHOWN]}"


def _record_attempt(delivery: WebhookDelivery, *, code: int | None, error: str, final: bool):
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_response_code": code,
        "last_error": error,
        "lease_until": None,
    }
    if not error:
        fields.update(status=WebhookDeliveryStatus.SUCCEEDED, delivered_at=now)
    elif final or attempts >= settings.FINETUNING_WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=WebhookDeliveryStatus.FAILED, next_attempt_at=None)
    else:
        delay = min(
            settings.FINETUNING_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempts - 1),
            settings.FINETUNING_WEBHOOK_BACKOFF_MAX_SECONDS,
        )
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)


def notifications_send_due(*, limit: int | None = None) -> list[WebhookDelivery]:
    """Send the deliveries that are due; return them (for the worker's log)."""
    sent = []
    for delivery in _claim_due(limit=limit or settings.FINETUNING_WEBHOOK_BATCH):
        refusal = _refusal(delivery.endpoint.url)
        if refusal:
            _record_attempt(delivery, code=None, error=refusal, final=True)
        else:
            code, error = _send(delivery)
            _record_attempt(delivery, code=code, error=error, final=False)
        sent.append(delivery)
    return sent


def notifications_run_once(*, log=None) -> None:
    """The worker's hook: enqueue what ended, send what is due. Never breaks the pass."""
    try:
        notifications_enqueue()
        sent = notifications_send_due()
    except Exception:
        logger.exception("Sending webhook notifications failed; the next pass tries again")
        return
    if sent and log:
        log(f"webhooks: {len(sent)} deliveries attempted")
