from http import HTTPStatus

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finetunings.errors import ErrorCode
from finetunings.models import Finetuning, FinetuningStatus, GoldenRecord
from finetunings.validation import GOLDEN_RECORDS_MINIMUM
from tests.helpers.api import NUL_KEY_METADATA, assert_400_naming


def create(api, **body):
    return api.post("/api/v1/finetunings", body, format="json")


def test_create_with_defaults_uses_every_golden_record(api, connection, golden_records, settings):
    response = create(api, db_connection_id=connection.pk)

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["status"] == "queued"
    assert body["error"] is None
    created = Finetuning.objects.get(pk=body["id"]).created_at
    assert body["alias"] == f"shop_{created:%Y%m%d%H%M}_{body['id'][:6]}"
    assert body["base_llm"] == {
        "model_provider": "openai",
        "model_name": settings.FINETUNING_DEFAULT_MODEL,
        "model_parameters": {},
    }
    assert sorted(body["golden_records"]) == sorted(r.pk for r in golden_records)
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert len(body["id"]) == 24
    assert int(body["id"], 16) >= 0


def test_create_with_everything_given(api, connection, golden_records):
    ids = [r.pk for r in golden_records[:10]]
    response = create(
        api,
        db_connection_id=connection.pk,
        alias="my_model",
        base_llm={
            "model_provider": "openai",
            "model_name": "gpt-3.5-turbo-1106",
            "model_parameters": {
                "n_epochs": "1",
                "batch_size": 4,
                "learning_rate_multiplier": "auto",
            },
        },
        golden_records=ids,
        metadata={"team": "growth"},
    )

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["alias"] == "my_model"
    assert body["golden_records"] == ids
    assert body["metadata"] == {"team": "growth"}
    assert body["base_llm"]["model_parameters"] == {
        "n_epochs": "1",
        "batch_size": 4,
        "learning_rate_multiplier": "auto",
    }


def test_job_golden_records_do_not_change_when_records_are_deleted(api, connection, golden_records):
    job = create(api, db_connection_id=connection.pk).json()
    GoldenRecord.objects.filter(pk=golden_records[0].pk).delete()

    assert (
        api.get(f"/api/v1/finetunings/{job['id']}").json()["golden_records"]
        == job["golden_records"]
    )


def assert_400(response, field):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["code"] == ErrorCode.VALIDATION
    assert field in body["errors"], body
    assert not Finetuning.objects.exists()
    return body["errors"][field]


def test_unknown_connection(api, db):
    assert_400(create(api, db_connection_id="000000000000000000000000"), "db_connection_id")


def test_unknown_golden_record(api, connection, golden_records):
    ids = [r.pk for r in golden_records[:10]] + ["ffffffffffffffffffffffff"]
    messages = assert_400(
        create(api, db_connection_id=connection.pk, golden_records=ids), "golden_records"
    )
    assert "ffffffffffffffffffffffff" in messages[0]


def test_golden_record_of_another_connection(
    api, connection, golden_records, make_connection, make_golden_records
):
    other = make_golden_records(make_connection(), count=1)[0]
    ids = [r.pk for r in golden_records[:10]] + [other.pk]

    messages = assert_400(
        create(api, db_connection_id=connection.pk, golden_records=ids), "golden_records"
    )
    assert any("another database connection" in m and other.pk in m for m in messages)


def test_fewer_than_ten_golden_records(api, connection, golden_records):
    ids = [r.pk for r in golden_records[:9]]

    messages = assert_400(
        create(api, db_connection_id=connection.pk, golden_records=ids), "golden_records"
    )
    assert f"At least {GOLDEN_RECORDS_MINIMUM}" in messages[0]


def test_connection_with_fewer_than_ten_records(api, connection, make_golden_records):
    make_golden_records(connection, count=3)

    assert_400(create(api, db_connection_id=connection.pk), "golden_records")


def test_repeated_golden_record_ids(api, connection, golden_records):
    ids = [r.pk for r in golden_records[:10]] + [golden_records[0].pk]

    messages = assert_400(
        create(api, db_connection_id=connection.pk, golden_records=ids), "golden_records"
    )
    assert "repeated" in messages[0]


@pytest.mark.parametrize(
    ("base_llm", "field"),
    [
        ({"model_provider": "anthropic"}, "base_llm.model_provider"),
        ({"model_name": "gpt-2"}, "base_llm.model_name"),
        ({"model_parameters": {"n_epochs": 0}}, "base_llm.model_parameters.n_epochs"),
        ({"model_parameters": {"n_epochs": 51}}, "base_llm.model_parameters.n_epochs"),
        ({"model_parameters": {"n_epochs": "2.5"}}, "base_llm.model_parameters.n_epochs"),
        ({"model_parameters": {"n_epochs": "many"}}, "base_llm.model_parameters.n_epochs"),
        ({"model_parameters": {"batch_size": 257}}, "base_llm.model_parameters.batch_size"),
        (
            {"model_parameters": {"learning_rate_multiplier": 0}},
            "base_llm.model_parameters.learning_rate_multiplier",
        ),
        (
            {"model_parameters": {"learning_rate_multiplier": "NaN"}},
            "base_llm.model_parameters.learning_rate_multiplier",
        ),
        ({"model_parameters": {"temperature": 1}}, "base_llm.model_parameters.temperature"),
    ],
)
def test_unsupported_model_or_parameter_out_of_range(
    api, connection, golden_records, base_llm, field
):
    assert_400(create(api, db_connection_id=connection.pk, base_llm=base_llm), field)


def test_allowed_models_are_a_setting(api, connection, golden_records, settings):
    settings.FINETUNING_ALLOWED_MODELS = {"openai": ["my-org-model"]}

    refused = create(api, db_connection_id=connection.pk, base_llm={"model_name": "gpt-4"})
    accepted = create(api, db_connection_id=connection.pk, base_llm={"model_name": "my-org-model"})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert accepted.status_code == HTTPStatus.CREATED


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
    ],
)
def test_metadata_limits(api, connection, golden_records, metadata):
    assert_400(create(api, db_connection_id=connection.pk, metadata=metadata), "metadata")


def test_metadata_at_the_limits_is_accepted(api, connection, golden_records):
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}

    response = create(api, db_connection_id=connection.pk, metadata=metadata)

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["metadata"] == metadata


def test_every_problem_is_reported_at_once(api, connection, make_golden_records):
    make_golden_records(connection, count=2)
    response = create(
        api,
        db_connection_id=connection.pk,
        base_llm={"model_name": "gpt-2"},
        metadata={"k": "v" * 600},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {"golden_records", "base_llm.model_name", "metadata"}


def test_retrieve_and_unknown_id(api, finetuning):
    assert api.get(f"/api/v1/finetunings/{finetuning.pk}").json()["id"] == finetuning.pk
    response = api.get("/api/v1/finetunings/ffffffffffffffffffffffff")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND


def test_list_filters(api, make_connection, make_golden_records, make_finetuning):
    first, second = make_connection(), make_connection()
    make_golden_records(first), make_golden_records(second)
    running = make_finetuning(first, status=FinetuningStatus.RUNNING)
    failed = make_finetuning(first, status=FinetuningStatus.FAILED)
    other = make_finetuning(second)

    def ids(**params):
        response = api.get("/api/v1/finetunings", params)
        assert response.status_code == HTTPStatus.OK, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids(db_connection_id=first.pk) == {running.pk, failed.pk}
    assert ids(status="running") == {running.pk}
    assert ids(status=["running", "queued"]) == {running.pk, other.pk}
    assert ids(model_provider="openai") == {running.pk, failed.pk, other.pk}
    assert ids(model_provider="other") == set()
    Finetuning.objects.filter(pk=other.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=3)
    )
    yesterday = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    assert ids(created_after=yesterday) == {running.pk, failed.pk}
    assert ids(created_before=yesterday) == {other.pk}


def test_bad_filter_values_are_400(api, db):
    assert (
        api.get("/api/v1/finetunings", {"status": "paused"}).status_code == HTTPStatus.BAD_REQUEST
    )
    assert (
        api.get("/api/v1/finetunings", {"created_after": "soon"}).status_code
        == HTTPStatus.BAD_REQUEST
    )
    assert (
        api.get("/api/v1/finetunings", {"cursor": "garbage"}).status_code == HTTPStatus.BAD_REQUEST
    )


def test_pagination_walks_every_job_once(api, connection, golden_records, make_finetuning):
    created = {make_finetuning(connection).pk for _ in range(7)}

    seen, url = [], "/api/v1/finetunings?limit=3"
    while url:
        page = api.get(url).json()
        assert len(page["results"]) <= 3
        seen += [item["id"] for item in page["results"]]
        url = page["next"]

    assert len(seen) == 7
    assert set(seen) == created


def count_list_queries(api, limit):
    with CaptureQueriesContext(db) as queries:
        response = api.get("/api/v1/finetunings", {"limit": limit})
    assert response.status_code == HTTPStatus.OK
    return len(queries), len(response.json()["results"])


def test_list_runs_a_constant_number_of_queries(
    api, make_connection, make_golden_records, make_finetuning
):
    small, big = make_connection(), make_connection()
    make_golden_records(small, count=10)
    make_golden_records(big, count=60)
    for _ in range(3):
        make_finetuning(small)
    for _ in range(25):
        make_finetuning(big)

    count_list_queries(api, limit=1)  # the key's first use is recorded: one write, once
    few = count_list_queries(api, limit=2)
    many = count_list_queries(api, limit=50)

    assert few[1] == 2
    assert many[1] == 28
    assert few[0] == many[0]


def test_patch_alias_and_metadata_records_an_event(api, finetuning):
    response = api.patch(
        f"/api/v1/finetunings/{finetuning.pk}",
        {"alias": "renamed", "metadata": {"a": "b"}},
        format="json",
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json()["alias"] == "renamed"
    assert response.json()["metadata"] == {"a": "b"}
    events = api.get(f"/api/v1/finetunings/{finetuning.pk}/events").json()["results"]
    assert [e["kind"] for e in events] == ["created", "metadata_updated"]
    assert events[1]["actor"].startswith("api key test-client")


def test_patch_cannot_change_other_fields(api, finetuning):
    response = api.patch(
        f"/api/v1/finetunings/{finetuning.pk}",
        {"status": "succeeded", "model_id": "x"},
        format="json",
    )

    assert response.status_code == HTTPStatus.OK
    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.QUEUED
    assert finetuning.model_id is None


def test_patch_rejects_bad_metadata(api, finetuning):
    response = api.patch(
        f"/api/v1/finetunings/{finetuning.pk}", {"metadata": {"a": 1}}, format="json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    finetuning.refresh_from_db()
    assert finetuning.metadata is None


@pytest.mark.parametrize(
    "status", [FinetuningStatus.QUEUED, FinetuningStatus.VALIDATING_FILES, FinetuningStatus.RUNNING]
)
def test_delete_active_job_is_409(api, connection, golden_records, make_finetuning, status):
    job = make_finetuning(connection, status=status)

    response = api.delete(f"/api/v1/finetunings/{job.pk}")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == ErrorCode.FINETUNING_ACTIVE
    assert Finetuning.objects.filter(pk=job.pk, status=status).exists()


def test_delete_finished_job_and_its_kept_training_file(
    api, connection, golden_records, make_finetuning, django_capture_on_commit_callbacks
):
    job = make_finetuning(connection, status=FinetuningStatus.CANCELLED)
    job.training_file.save(f"{job.pk}.jsonl", ContentFile(b'{"messages": []}\n'))
    stored = job.training_file.name
    assert default_storage.exists(stored)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/finetunings/{job.pk}")

    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not Finetuning.objects.filter(pk=job.pk).exists()
    assert not default_storage.exists(stored)


@pytest.mark.parametrize(
    "query", ["created_after=", "created_before=", "status=", "status=queued&status="]
)
def test_an_empty_formatted_filter_is_a_400_not_ignored(api, finetuning, query):
    response = api.get(f"/api/v1/finetunings?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.VALIDATION
    assert query.split("=")[0] in response.json()["errors"]


def test_an_empty_format_parameter_is_a_400(api, finetuning):
    response = api.get(f"/api/v1/finetunings/{finetuning.pk}?format=")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "format" in response.json()["errors"]


def test_jobs_started_in_the_same_hour_get_different_default_aliases(
    api, connection, golden_records
):
    aliases = [create(api, db_connection_id=connection.pk).json()["alias"] for _ in range(3)]

    assert len(set(aliases)) == 3
    assert all(alias.startswith("shop_") for alias in aliases)


def test_editing_a_job_deleted_meanwhile_is_refused_and_leaves_no_event(
    connection, golden_records, make_finetuning
):
    from finetunings import errors, services
    from finetunings.models import FinetuningEvent

    job = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)
    stale = Finetuning.objects.get(pk=job.pk)  # read by the edit ...
    services.finetuning_delete(finetuning=job)  # ... deleted by another request

    with pytest.raises(errors.DeletedMeanwhile):
        services.finetuning_update(finetuning=stale, actor="test", alias="revived")

    assert not Finetuning.objects.filter(pk=job.pk).exists()
    assert not FinetuningEvent.objects.filter(finetuning_id=job.pk).exists()


def test_a_repeated_limit_is_a_400_not_the_last_one_taken(api, finetuning):
    response = api.get("/api/v1/finetunings?limit=5&limit=9")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "limit" in response.json()["errors"]


def test_finetuning_metadata_key_with_nul_is_400(api, connection, golden_records):
    response = api.post(
        "/api/v1/finetunings",
        {"db_connection_id": connection.pk, "metadata": NUL_KEY_METADATA},
        format="json",
    )

    assert_400_naming(response, "metadata")
    assert not Finetuning.objects.exists()


def test_patch_finetuning_metadata_key_with_nul_is_400(api, finetuning):
    response = api.patch(
        f"/api/v1/finetunings/{finetuning.pk}", {"metadata": NUL_KEY_METADATA}, format="json"
    )

    assert_400_naming(response, "metadata")
    finetuning.refresh_from_db()
    assert finetuning.metadata is None


@pytest.mark.parametrize("parameter", ["n_epochs", "batch_size", "learning_rate_multiplier"])
def test_model_parameter_too_large_for_a_float_is_400(api, connection, golden_records, parameter):
    response = api.generic(
        "POST",
        "/api/v1/finetunings",
        f'{{"db_connection_id": "{connection.pk}", '
        f'"base_llm": {{"model_parameters": {{"{parameter}": {"9" * 400}}}}}}}',
        content_type="application/json",
    )

    assert_400_naming(response, f"base_llm.model_parameters.{parameter}")
    assert not Finetuning.objects.exists()


def test_patch_of_unknown_job_is_404_even_with_a_bad_body(api, db):
    response = api.patch(
        "/api/v1/finetunings/000000000000000000000000", {"alias": 5}, format="json"
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND
