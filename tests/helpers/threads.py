"""Requests and worker passes run from several threads at once, each thread with its own
database connection."""

import threading
from collections.abc import Callable
from http import HTTPStatus

from django.db import connections
from rest_framework.test import APIClient

ROUNDS = 20


def run_at_once(
    work: Callable[[object], None], arguments=("w1", "w2"), timeout: float = 60
) -> list[Exception]:
    """Run ``work(argument)`` for each argument (by default two worker ids) in its own
    thread, all released together; what the threads raised (a thread cannot fail the test
    itself)."""
    start = threading.Barrier(len(arguments))
    failures = []

    def run(argument):
        try:
            start.wait()
            work(argument)
        except Exception as exc:  # surfaced to the caller
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return failures


def send_at_once(requests: list[Callable[[APIClient], object]], raw_key: str) -> list:
    """Call each request with its own authenticated client from its own thread, all
    released together; what each returned (or the repr of what it raised), in finishing order."""
    results = []

    def send(request):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        try:
            results.append(request(client))
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            results.append(repr(exc))

    results.extend(repr(exc) for exc in run_at_once(send, requests))
    return results


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
