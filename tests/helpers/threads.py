"""Requests sent from several threads at once, each with its own database connection."""

import threading

from django.db import connections
from rest_framework.test import APIClient

ROUNDS = 20


def patch_at_once(url: str, bodies: list[dict], raw_key: str) -> list[int | str]:
    """PATCH ``url`` with each body from its own thread, all released together."""
    barrier = threading.Barrier(len(bodies))
    results: list[int | str] = []

    def patch(body):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            barrier.wait()
            results.append(client.patch(url, body, format="json").status_code)
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=patch, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
