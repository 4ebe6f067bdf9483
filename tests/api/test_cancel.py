"""POST /api/v1/finetunings/{id}/cancel, on every status and every provider answer."""

from http import HTTPStatus

import pytest

from finetunings.errors import CANCELLED_BY_USER_MESSAGE, ErrorCode
from finetunings.models import (
    Finetuning,
    FinetuningEvent,
    FinetuningStatus,
)
from finetunings.providers import ProviderRejected, ProviderUnavailable
from tests.helpers.api import NUL_KEY_METADATA, assert_400_naming

ACTIVE = [FinetuningStatus.QUEUED, FinetuningStatus.VALIDATING_FILES, FinetuningStatus.RUNNING]


def cancel(api, job, body=None):
    return api.post(f"/api/v1/finetunings/{job.pk}/cancel", body, format="json")


def snapshot(job):
    row = Finetuning.objects.filter(pk=job.pk).values().get()
    row.pop("cancel_lease_until")  # bookkeeping of who may call the provider, not the job
    return row, FinetuningEvent.objects.filter(finetuning=job).count()


@pytest.mark.parametrize("status", ACTIVE)
def test_active_job_without_provider_job_is_cancelled_locally(
    api, connection, golden_records, make_finetuning, provider, status
):
    job = make_finetuning(connection, status=status)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["error"] == CANCELLED_BY_USER_MESSAGE
    assert body["cancelled_by"].startswith("api key test-client")
    assert provider.calls_to("cancel_job") == []
    assert Finetuning.objects.filter(pk=job.pk, status="cancelled").exists()  # kept, not deleted


@pytest.mark.parametrize("status", ACTIVE)
def test_active_job_with_provider_job_is_cancelled_at_the_provider(
    api, connection, golden_records, make_finetuning, provider, status
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=status, finetuning_job_id=remote.id)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "cancelled"
    assert response.json()["finetuning_job_id"] == remote.id
    assert provider.calls_to("cancel_job") == [remote.id]
    assert provider.jobs[remote.id].status == "cancelled"
    job.refresh_from_db()
    assert job.provider_status == "cancelled"


def test_cancel_writes_one_timeline_event_naming_who(api, finetuning):
    cancel(api, finetuning)

    events = api.get(f"/api/v1/finetunings/{finetuning.pk}/events").json()["results"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "queued"),
        ("queued", "cancelled"),
    ]
    assert events[1]["actor"].startswith("api key test-client")
    assert events[1]["message"] == CANCELLED_BY_USER_MESSAGE


def test_already_cancelled_returns_the_job_unchanged(api, finetuning, provider):
    first = cancel(api, finetuning).json()
    before = snapshot(finetuning)

    again = cancel(api, finetuning)

    assert again.status_code == HTTPStatus.OK
    assert again.json() == first
    assert snapshot(finetuning) == before


@pytest.mark.parametrize("status", [FinetuningStatus.SUCCEEDED, FinetuningStatus.FAILED])
def test_finished_job_is_409_and_unchanged(
    api, connection, golden_records, make_finetuning, status
):
    job = make_finetuning(
        connection, status=status, model_id="ft:gpt:x" if status == "succeeded" else None
    )
    before = snapshot(job)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == ErrorCode.NOT_CANCELLABLE
    assert response.json()["status"] == status
    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("remote_status", "fields"),
    [
        ("succeeded", {"fine_tuned_model": "ft:gpt-4o-mini:org::abc123"}),
        ("failed", {"error_message": "Training data contained invalid examples."}),
    ],
)
def test_provider_reports_job_finished_is_409_and_job_updated(
    api, connection, golden_records, make_finetuning, provider, remote_status, fields
):
    remote = provider.add_job(status=remote_status, **fields)
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == ErrorCode.NOT_CANCELLABLE
    assert response.json()["status"] == remote_status
    job.refresh_from_db()
    assert job.status == remote_status
    if remote_status == "succeeded":
        assert job.model_id == "ft:gpt-4o-mini:org::abc123"
    else:
        assert job.error == "Training data contained invalid examples."


def test_provider_unreachable_is_503_and_job_unchanged(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.unreachable("cancel_job")
    before = snapshot(job)

    response = cancel(api, job, {"metadata": {"reason": "budget"}})

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == ErrorCode.PROVIDER_UNAVAILABLE
    assert "could not be reached" in response.json()["detail"]
    assert response.headers["Retry-After"]
    assert snapshot(job) == before

    provider.fail_always.clear()  # the provider is back: the client's retry goes through
    assert cancel(api, job).status_code == HTTPStatus.OK


def test_provider_refusal_is_502_and_job_unchanged(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.fail_next["cancel_job"] = ProviderRejected("Invalid API key.", status_code=401)
    before = snapshot(job)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert response.json()["code"] == ErrorCode.PROVIDER_ERROR
    assert "Invalid API key." in response.json()["detail"]
    assert snapshot(job) == before


def test_provider_unreachable_while_checking_a_refusal_is_503(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id=remote.id)
    provider.fail_next["cancel_job"] = ProviderRejected("Job is not cancellable.", status_code=400)
    provider.fail_next["retrieve_job"] = ProviderUnavailable("Request timed out.")
    before = snapshot(job)

    assert cancel(api, job).status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert snapshot(job) == before


def test_body_id_must_match_the_path(api, finetuning):
    response = cancel(api, finetuning, {"finetuning_id": "ffffffffffffffffffffffff"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.ID_MISMATCH
    assert "finetuning_id" in response.json()["errors"]
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED


def test_metadata_is_merged(api, connection, golden_records, make_finetuning):
    job = make_finetuning(connection, metadata={"team": "growth", "reason": "old"})

    response = cancel(api, job, {"finetuning_id": job.pk, "metadata": {"reason": "budget"}})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["metadata"] == {"team": "growth", "reason": "budget"}


def test_null_metadata_keeps_the_jobs_metadata(api, connection, golden_records, make_finetuning):
    job = make_finetuning(connection, metadata={"team": "growth"})

    response = cancel(api, job, {"metadata": None})

    assert response.json()["metadata"] == {"team": "growth"}


@pytest.mark.parametrize(
    "metadata",
    [{"n": 1}, {"k" * 65: "v"}, {"k": "v" * 513}, "text"],
)
def test_bad_metadata_is_400_and_job_unchanged(api, finetuning, metadata):
    before = snapshot(finetuning)

    response = cancel(api, finetuning, {"metadata": metadata})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert snapshot(finetuning) == before


def test_merged_metadata_over_the_key_limit_is_400(
    api, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, metadata={f"k{i}": "v" for i in range(16)})
    before = snapshot(job)

    response = cancel(api, job, {"metadata": {"one-more": "v"}})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert snapshot(job) == before


def test_merged_metadata_refused_on_a_provider_job_leaves_its_cancel_lease_as_it_was(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote.id,
        metadata={f"k{i}": "v" for i in range(16)},
    )
    before = Finetuning.objects.filter(pk=job.pk).values().get()

    response = cancel(api, job, {"metadata": {"one-more": "v"}})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Finetuning.objects.filter(pk=job.pk).values().get() == before
    assert provider.calls_to("cancel_job") == []


UNKNOWN_ID = "ffffffffffffffffffffffff"


@pytest.mark.parametrize(
    "body",
    [None, {"metadata": {f"k{i}": "v" for i in range(17)}}, {"finetuning_id": "other"}],
)
def test_unknown_id_is_404_whatever_the_body(api, db, body):
    response = api.post(f"/api/v1/finetunings/{UNKNOWN_ID}/cancel", body, format="json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": f"No fine-tuning job with id {UNKNOWN_ID!r}.",
        "code": ErrorCode.NOT_FOUND,
    }


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"metadata": ', "application/json"),
        ('{"metadata": {"a": "\\u0000"}}', "application/json"),
        ("cancel it", "text/plain"),
    ],
)
def test_unknown_id_is_404_even_with_a_body_that_does_not_parse(api, db, content, content_type):
    response = api.post(
        f"/api/v1/finetunings/{UNKNOWN_ID}/cancel", content, content_type=content_type
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


def test_a_body_that_does_not_parse_on_a_known_job_is_still_refused(api, finetuning):
    response = api.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        '{"metadata": ',
        content_type="application/json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Finetuning.objects.get(pk=finetuning.pk).status == finetuning.status


def test_a_provider_no_longer_configured_gives_the_cancel_lease_back(
    api, connection, golden_records, make_finetuning, provider
):
    remote = provider.add_job(status="running")
    job = make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote.id,
        model_provider="retired-provider",
    )
    before = snapshot(job)

    response = cancel(api, job)

    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert snapshot(job) == before
    # Given back at once: a retry is answered now, not after the lease runs out.
    assert Finetuning.objects.get(pk=job.pk).cancel_lease_until is None
    assert cancel(api, job).status_code == HTTPStatus.BAD_GATEWAY


def test_get_on_cancel_is_405(api, finetuning):
    assert (
        api.get(f"/api/v1/finetunings/{finetuning.pk}/cancel").status_code
        == HTTPStatus.METHOD_NOT_ALLOWED
    )


def test_metadata_sent_to_a_cancelled_job_is_merged_and_recorded(
    api, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, metadata={"team": "growth"})
    cancel(api, job, {"metadata": {"reason": "budget"}})

    response = cancel(api, job, {"metadata": {"ticket": "OPS-7"}})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "cancelled"
    assert response.json()["metadata"] == {"team": "growth", "reason": "budget", "ticket": "OPS-7"}
    last = FinetuningEvent.objects.filter(finetuning=job).order_by("created_at", "id").last()
    assert last.kind == "metadata_updated"
    assert last.actor.startswith("api key test-client")


def test_a_retried_cancel_with_the_same_metadata_changes_nothing(
    api, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)
    first = cancel(api, job, {"metadata": {"reason": "budget"}}).json()
    before = snapshot(job)

    again = cancel(api, job, {"metadata": {"reason": "budget"}})

    assert again.json() == first
    assert snapshot(job) == before


def test_metadata_for_a_cancelled_job_is_held_to_the_same_limits(
    api, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, metadata={f"k{i}": "v" for i in range(16)})
    cancel(api, job)
    before = snapshot(job)

    response = cancel(api, job, {"metadata": {"one": "too many"}})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "metadata" in response.json()["errors"]
    assert snapshot(job) == before


def test_cancelling_a_job_deleted_meanwhile_is_refused(connection, golden_records, make_finetuning):
    from finetunings import errors, services

    job = make_finetuning(connection, status=FinetuningStatus.CANCELLED)
    stale = Finetuning.objects.get(pk=job.pk)  # read by the cancel ...
    services.finetuning_delete(finetuning=job)  # ... deleted by another request

    with pytest.raises(errors.DeletedMeanwhile):
        services.finetuning_cancel(finetuning=stale, actor="test")


def test_cancel_metadata_key_with_nul_is_400_and_job_unchanged(api, finetuning):
    response = api.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        {"metadata": NUL_KEY_METADATA},
        format="json",
    )

    assert_400_naming(response, "metadata")
    finetuning.refresh_from_db()
    assert finetuning.status == "queued"


def test_cancel_id_with_nul_in_the_path_is_404(api, db):
    response = api.post("/api/v1/finetunings/a%00b/cancel", format="json")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND
