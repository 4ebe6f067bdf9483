"""Requests and worker passes run from several threads at once, each thread with its own
database connection."""

import threading
from collections.abc import Callable
from http import HTTPStatus

from django.db import connections
from rest_framework.test import APIClient

ROUNDS = 20


def send_at_once(requests: list[Callable[[APIClient], object]], raw_key: str) -> list:
    """Call each request with its own authenticated client from its own thread, all
    released together; what each returned (or the repr of what it raised), in finishing order."""
    barrier = threading.Barrier(len(requests))
    results = []

    def send(request):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            barrier.wait()
            results.append(request(client))
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def run_workers_at_once(
    work: Callable[[str], None], worker_ids=("w1", "w2"), timeout: float = 60
) -> list[Exception]:
    """Run ``work(worker_id)`` for each worker id in its own thread, all released together;
    what the threads raised (a thread cannot fail the test itself)."""
    start = threading.Barrier(len(worker_ids))
    failures = []

    def run(worker_id):
        try:
            start.wait()
            work(worker_id)
        except Exception as exc:  # surfaced to the caller
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(worker_id,)) for worker_id in worker_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return failures


def patch_at_once(url: str, bodies: list[dict], raw_key: str) -> list[int | str]:
    """PATCH ``url`` with each body from its own thread, all released together."""
    return send_at_once(
        [
            lambda client, body=body: client.patch(url, body, format="json").status_code
            for body in bodies
        ],
        raw_key,
    )


def assert_field_and_metadata_patches_both_survive(instance, url, field, value_of_round, raw_key):
    """Round after round, PATCH ``field`` and ``metadata`` of ``instance`` at once: both
    requests succeed and the stored row keeps both changes (neither overwrites the other)."""
    for round_ in range(ROUNDS):
        value = value_of_round(round_)
        metadata = {"round": str(round_)}

        results = patch_at_once(url, [{field: value}, {"metadata": metadata}], raw_key)

        assert results == [HTTPStatus.OK, HTTPStatus.OK]
        stored = type(instance).objects.get(pk=instance.pk)
        assert (getattr(stored, field), stored.metadata) == (value, metadata), f"round {round_}"
