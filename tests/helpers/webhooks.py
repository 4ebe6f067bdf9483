"""OpenAI webhook deliveries for tests: a signing secret, an event body and its signed headers."""

import base64
import hashlib
import hmac
import json
import time

SECRET = "whsec_" + base64.b64encode(b"a-webhook-signing-secret-for-tests").decode()


def signed_headers(body: str, *, event_id: str, secret=SECRET, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{event_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {
        "HTTP_WEBHOOK_ID": event_id,
        "HTTP_WEBHOOK_TIMESTAMP": timestamp,
        "HTTP_WEBHOOK_SIGNATURE": "v1," + base64.b64encode(digest).decode(),
    }


def event_body(job_id: str, event_id="evt_0001", kind="fine_tuning.job.succeeded") -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": int(time.time()),
            "type": kind,
            "data": {"id": job_id},
        }
    )
