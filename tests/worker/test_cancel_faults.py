"""Cancels that the database fails after the provider accepted them: never a split job.

The provider is the fake OpenAI (driven through the real SDK); the database faults are
injected with Django's ``execute_wrapper`` (every database) or made real on PostgreSQL
(the request's server process is terminated).
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connections
from django.db import connection as db_connection
from django.utils import timezone
from rest_framework.test import APIClient

from finetunings import errors
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus
from finetunings.providers import reset_providers
from finetunings.services import (
    FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE,
    LATE_PROVIDER_JOB_FINISHED_MESSAGE,
    ORPHAN_CANCELLED_MESSAGE,
)
from tests.fakes.openai_server import CANCEL, CREATE, LIST
from tests.helpers.api import cancelled_after_the_next_refresh, post_cancel

REFUSED = "server closed the connection unexpectedly"


def is_cancel_write(sql: str) -> bool:
    # The write that sets who cancelled (the cancel lease's claim only RETURNs the column).
    return sql.startswith('UPDATE "finetunings_finetuning"') and '"cancelled_by" =' in sql


@contextlib.contextmanager
def failing_writes(times: int):
    """The first ``times`` attempts to record a cancel fail as on a dropped connection."""
    failures = {"left": times}

    def fail(execute, sql, params, many, context):
        if is_cancel_write(sql) and failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError(REFUSED)
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(fail):
        yield failures


@contextlib.contextmanager
def database_down_once_the_provider_cancelled(fake):
    """Every query fails from the moment the provider has accepted the cancel."""

    def fail(execute, sql, params, many, context):
        if fake.calls_to(CANCEL):
            raise OperationalError(REFUSED)
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(fail):
        yield


def test_metadata_the_database_refuses_is_400_before_the_provider_is_asked(
    api, openai_provider, running, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite stores lone surrogates; PostgreSQL's jsonb refuses them")
    before = Finetuning.objects.get(pk=running.pk)

    # A lone surrogate in a key, escaped as JSON allows it (a client cannot send it raw).
    response = api.generic(
        "POST",
        f"/api/v1/finetunings/{running.pk}/cancel",
        '{"metadata": {"\\ud800": "v"}}',
        content_type="application/json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert any(field.startswith("metadata") for field in response.json()["errors"])
    assert openai_provider.calls_to(CANCEL) == []
    after = Finetuning.objects.get(pk=running.pk)
    assert (after.status, after.metadata, after.cancel_lease_until) == (
        before.status,
        before.metadata,
        None,
    )


def test_a_failed_write_after_the_provider_accepted_is_retried_and_recorded(
    api, api_key, openai_provider, running
):
    with failing_writes(times=2) as failures:
        response = post_cancel(api, running, metadata={"reason": "budget"})

    assert failures["left"] == 0
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == FinetuningStatus.CANCELLED
    job = Finetuning.objects.get(pk=running.pk)
    assert job.status == FinetuningStatus.CANCELLED
    assert job.cancelled_by == f"api key test-client ({api_key[0].prefix})"
    assert job.error == errors.CANCELLED_BY_USER_MESSAGE
    assert job.metadata == {"reason": "budget"}
    assert job.cancel_lease_until is None
    assert openai_provider.calls_to(CANCEL) == [running.finetuning_job_id]


# Outside a transaction, as in production: a failed query poisons the test's own.
@pytest.mark.django_db(transaction=True)
def test_a_database_down_after_the_provider_accepted_is_503_and_the_cancel_is_kept(
    api, api_key, settings, openai_provider, running, run_pass, make_due
):
    settings.FINETUNING_CANCEL_WAIT_SECONDS = 0.2
    with database_down_once_the_provider_cancelled(openai_provider):
        response = post_cancel(api, running, metadata={"reason": "budget"})

    # Not a 500: the database is down, and the client is told to retry.
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == errors.ErrorCode.DATABASE_UNAVAILABLE
    assert response["Retry-After"]
    assert openai_provider.jobs[running.finetuning_job_id]["status"] == "cancelled"

    # The database is back. The worker's next refresh records the user's cancel, with
    # who asked, when, their metadata and the error, not as the provider's own doing.
    job = cancelled_after_the_next_refresh(running, make_due, run_pass)
    assert job.cancelled_by == f"api key test-client ({api_key[0].prefix})"
    assert job.metadata == {"reason": "budget"}
    assert job.cancel_lease_until is None
    event = FinetuningEvent.objects.get(finetuning=job, to_status=FinetuningStatus.CANCELLED)
    assert event.actor == job.cancelled_by
    assert event.message == errors.CANCELLED_BY_USER_MESSAGE
    # A retry now answers at once, with the same job.
    again = post_cancel(api, running)
    assert again.status_code == HTTPStatus.OK
    assert again.json()["cancelled_by"] == job.cancelled_by


# Outside a transaction, as in production: a failed query poisons the test's own.
@pytest.mark.django_db(transaction=True)
def test_a_retry_while_a_dead_request_holds_the_lease_records_its_cancel_at_once(
    api, api_key, settings, openai_provider, running
):
    with database_down_once_the_provider_cancelled(openai_provider):
        post_cancel(api, running, metadata={"reason": "budget"})
    # The first request could not even release its lease (the database was down).
    Finetuning.objects.filter(pk=running.pk).update(
        cancel_lease_until=timezone.now() + timedelta(seconds=60)
    )

    retried = post_cancel(api, running)

    # Not a wait for the lease: the provider says cancelled, so the first cancel stands.
    assert retried.status_code == HTTPStatus.OK
    assert retried.json()["status"] == FinetuningStatus.CANCELLED
    assert retried.json()["metadata"] == {"reason": "budget"}
    assert retried.json()["cancelled_by"] == f"api key test-client ({api_key[0].prefix})"
    assert openai_provider.calls_to(CANCEL) == [running.finetuning_job_id]


def test_a_retry_while_a_live_request_holds_the_lease_answers_503_within_the_wait(
    api, settings, provider, connection, golden_records, make_finetuning
):
    settings.FINETUNING_CANCEL_WAIT_SECONDS = 0.2
    remote = provider.add_job(status="running")
    job = make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote.id,
        cancel_lease_until=timezone.now() + timedelta(seconds=60),
        cancel_request={"actor": "someone", "at": timezone.now().isoformat(), "metadata": None},
    )

    retried = post_cancel(api, job)

    assert retried.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert retried.json()["code"] == errors.ErrorCode.CANCEL_IN_PROGRESS
    assert 1 <= int(retried["Retry-After"]) <= 5
    assert Finetuning.objects.get(pk=job.pk).status == FinetuningStatus.RUNNING


# Outside a transaction, as in production: a failed query poisons the test's own.
@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_lease_expired_records_the_first_requests_cancel(
    api, settings, openai_provider, running
):
    with database_down_once_the_provider_cancelled(openai_provider):
        post_cancel(api, running, metadata={"reason": "budget"})
    Finetuning.objects.filter(pk=running.pk).update(
        cancel_lease_until=timezone.now() - timedelta(seconds=1)
    )

    retried = post_cancel(api, running)

    assert retried.status_code == HTTPStatus.OK
    assert retried.json()["status"] == FinetuningStatus.CANCELLED
    assert retried.json()["metadata"] == {"reason": "budget"}


def test_requests_never_wait_on_a_cancel_lease_longer_than_ten_seconds():
    assert django_settings.FINETUNING_CANCEL_WAIT_SECONDS <= 10


def _cancel_in_thread(raw_key, job, results):
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        response = client.post(f"/api/v1/finetunings/{job.pk}/cancel", {}, format="json")
        results.append((response.status_code, response.json()))
    except Exception as exc:  # a thread's failure must fail the test, not vanish
        results.append((None, repr(exc)))
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backend_killed_while_the_provider_cancels_still_records_the_cancel(
    api_key, openai_provider, running, settings
):
    settings.OPENAI_TIMEOUT_SECONDS = 30  # held, not timed out, while the backend is killed
    reset_providers()  # the submitting pass cached a short-timeout client
    release = openai_provider.pause(CANCEL)
    results = []
    request = threading.Thread(target=_cancel_in_thread, args=(api_key[1], running, results))
    request.start()
    assert openai_provider.arrived[CANCEL].wait(timeout=10)
    # The request's own server process dies while the provider is cancelling.
    killer = db_connection.get_new_connection(db_connection.get_connection_params())
    killer.autocommit = True
    killer.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND pid <> %s",
        [db_connection.cursor().connection.info.backend_pid],
    )
    killer.close()
    release.set()
    request.join(timeout=30)

    [(status, body)] = results
    assert status == HTTPStatus.OK, body
    assert body["status"] == FinetuningStatus.CANCELLED
    job = Finetuning.objects.get(pk=running.pk)
    assert job.status == FinetuningStatus.CANCELLED
    assert job.cancelled_by
    assert job.cancel_lease_until is None


# --- A cancel racing a provider create (defect 14) -----------------------------------------


@pytest.fixture
def created_but_not_recorded(run_pass, openai_provider, finetuning):
    """The provider created the job, but its answer was lost: the job does not know it."""
    openai_provider.lose_next_response(CREATE)
    run_pass()
    finetuning.refresh_from_db()
    assert finetuning.finetuning_job_id is None
    [remote] = openai_provider.jobs_for(finetuning.pk)
    return finetuning, remote["id"]


def test_a_cancel_after_a_lost_create_answer_cancels_the_provider_job_at_once(
    api, openai_provider, created_but_not_recorded
):
    job, remote_id = created_but_not_recorded

    response = post_cancel(api, job)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == FinetuningStatus.CANCELLED
    assert response.json()["error"] == errors.CANCELLED_BY_USER_MESSAGE
    assert openai_provider.jobs[remote_id]["status"] == "cancelled"  # now, not after a lease
    assert openai_provider.calls_to(CANCEL) == [remote_id]
    job.refresh_from_db()
    assert job.finetuning_job_id == remote_id
    assert job.provider_status == "cancelled"
    assert FinetuningEvent.objects.filter(
        finetuning=job, message=FOUND_UNRECORDED_PROVIDER_JOB_MESSAGE.format(job_id=remote_id)
    ).exists()


def test_a_cancel_that_finds_the_provider_job_already_succeeded_keeps_its_model(
    api, openai_provider, created_but_not_recorded
):
    job, remote_id = created_but_not_recorded
    openai_provider.set_status(remote_id, "succeeded", fine_tuned_model="ft:gpt-4o-mini:acme::x")

    response = post_cancel(api, job)

    # The user's cancel came too late to stop anything: the job is what the provider made.
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == errors.ErrorCode.NOT_CANCELLABLE
    assert response.json()["status"] == FinetuningStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == FinetuningStatus.SUCCEEDED
    assert job.model_id == "ft:gpt-4o-mini:acme::x"
    assert job.cancelled_by is None


def test_a_provider_unreachable_while_looking_for_the_created_job_is_503_and_changes_nothing(
    api, openai_provider, created_but_not_recorded
):
    job, remote_id = created_but_not_recorded
    openai_provider.fail_next(LIST, 500)

    response = post_cancel(api, job)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == errors.ErrorCode.PROVIDER_UNAVAILABLE
    after = Finetuning.objects.get(pk=job.pk)
    assert after.status == job.status
    assert after.finetuning_job_id is None
    assert openai_provider.jobs[remote_id]["status"] == "validating_files"


def test_the_sweep_says_a_late_provider_job_succeeded_when_it_could_not_be_stopped(
    openai_provider, created_but_not_recorded, run_pass, settings
):
    job, remote_id = created_but_not_recorded
    # Cancelled locally when no provider job could be seen; the provider finished it since.
    Finetuning.objects.filter(pk=job.pk).update(
        status=FinetuningStatus.CANCELLED,
        error=errors.CANCELLED_BY_USER_MESSAGE,
        provider_create_started_at=timezone.now() - timedelta(hours=1),
    )
    openai_provider.set_status(remote_id, "succeeded", fine_tuned_model="ft:gpt-4o-mini:acme::y")

    run_pass()

    job.refresh_from_db()
    assert job.status == FinetuningStatus.CANCELLED  # terminal: the user was answered so
    assert job.finetuning_job_id == remote_id
    assert job.provider_status == "succeeded"
    assert job.model_id == "ft:gpt-4o-mini:acme::y"  # the model exists and is paid for
    messages = list(
        FinetuningEvent.objects.filter(finetuning=job).values_list("message", flat=True)
    )
    assert ORPHAN_CANCELLED_MESSAGE.format(job_id=remote_id) not in messages
    assert (
        LATE_PROVIDER_JOB_FINISHED_MESSAGE.format(
            job_id=remote_id, status="succeeded", detail=" (model ft:gpt-4o-mini:acme::y)"
        )
        in messages
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancel_after_a_worker_was_killed_between_create_and_record_stops_the_provider_job(
    api, openai_provider, finetuning, tmp_path
):
    release = openai_provider.pause(CREATE)  # the provider has created the job, not answered
    database = connections["default"].settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": openai_provider.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "FINETUNING_MEDIA_ROOT": str(tmp_path / "media"),
        "FINETUNING_TOKEN_COUNTER": "estimate",
    }
    worker_process = subprocess.Popen(
        [sys.executable, "manage.py", "finetuning_worker", "--once"],
        cwd=django_settings.BASE_DIR,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert openai_provider.arrived[CREATE].wait(timeout=60)
        worker_process.send_signal(signal.SIGKILL)  # between the create and its record
        worker_process.wait(timeout=10)
    finally:
        if worker_process.poll() is None:
            worker_process.kill()
        release.set()
    [remote] = openai_provider.jobs_for(finetuning.pk)

    response = post_cancel(api, finetuning)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == FinetuningStatus.CANCELLED
    assert openai_provider.jobs[remote["id"]]["status"] == "cancelled"
    assert openai_provider.active_jobs() == []
    finetuning.refresh_from_db()
    assert finetuning.finetuning_job_id == remote["id"]
