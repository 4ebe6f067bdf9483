"""The validation split in the API: asked for on create, shown on the job, its file served at
GET /api/v1/finetunings/{id}/validation-file like the training file."""

import hashlib
import json
from http import HTTPStatus

import pytest

from finetunings import validation_split, worker
from finetunings.models import Finetuning

pytestmark = pytest.mark.usefixtures("no_network")

URL = "/api/v1/finetunings"


def create(api, **body):
    return api.post(URL, body, format="json")


def file_url(job_id):
    return f"{URL}/{job_id}/validation-file"


def ids(records):
    return [record.pk for record in records]


def test_a_fraction_splits_the_given_records_and_the_job_shows_both_parts(
    api, connection, make_golden_records
):
    given = ids(make_golden_records(connection, count=20))

    response = create(
        api, db_connection_id=connection.pk, golden_records=given, validation_fraction=0.2
    )

    assert response.status_code == HTTPStatus.CREATED
    job = response.json()
    assert len(job["validation_golden_records"]) == 4
    assert sorted(job["golden_records"] + job["validation_golden_records"]) == sorted(given)
    assert not set(job["golden_records"]) & set(job["validation_golden_records"])
    assert job["validation_fraction"] == 0.2
    assert isinstance(job["validation_seed"], int)
    assert job["validation_file_id"] is None
    # The same request with the recorded seed draws the same split.
    again = create(
        api,
        db_connection_id=connection.pk,
        golden_records=given,
        validation_fraction=0.2,
        validation_seed=job["validation_seed"],
    ).json()
    assert again["validation_golden_records"] == job["validation_golden_records"]


def test_listed_validation_records_are_shown_as_given(api, connection, make_golden_records):
    records = ids(make_golden_records(connection, count=14))

    response = create(
        api,
        db_connection_id=connection.pk,
        golden_records=records[:11],
        validation_golden_records=records[11:],
    )

    assert response.status_code == HTTPStatus.CREATED
    job = response.json()
    assert job["golden_records"] == records[:11]
    assert job["validation_golden_records"] == records[11:]
    assert job["validation_fraction"] is None
    assert job["validation_seed"] is None


def test_a_job_without_a_split_shows_an_empty_one(api, connection, golden_records):
    job = create(api, db_connection_id=connection.pk).json()

    assert job["validation_golden_records"] == []
    assert job["validation_fraction"] is None
    assert job["validation_file_id"] is None


def refusal(response, field):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["code"] == "invalid"
    # A list's bad item is named by its index (validation_golden_records.0), as elsewhere.
    messages = [m for key, ms in body["errors"].items() if key.split(".")[0] == field for m in ms]
    assert messages, body
    assert Finetuning.objects.count() == 0  # a refused create changes nothing
    return " ".join(messages)


def test_both_ways_at_once_are_refused(api, connection, golden_records):
    message = refusal(
        create(
            api,
            db_connection_id=connection.pk,
            validation_golden_records=[golden_records[0].pk],
            validation_fraction=0.2,
        ),
        "validation_fraction",
    )

    assert message == validation_split.BOTH_GIVEN_MESSAGE


def test_validation_ids_also_in_golden_records_are_refused(api, connection, golden_records):
    message = refusal(
        create(
            api,
            db_connection_id=connection.pk,
            golden_records=ids(golden_records),
            validation_golden_records=[golden_records[0].pk],
        ),
        "validation_golden_records",
    )

    assert golden_records[0].pk in message
    assert "also in golden_records" in message


def test_unknown_foreign_and_repeated_validation_ids_are_named(
    api, connection, golden_records, make_connection, make_golden_records
):
    [foreign] = make_golden_records(make_connection(), count=1)
    held_out = golden_records[-1].pk

    message = refusal(
        create(
            api,
            db_connection_id=connection.pk,
            golden_records=ids(golden_records[:-1]),
            validation_golden_records=[held_out, held_out, "0" * 24, foreign.pk],
        ),
        "validation_golden_records",
    )

    assert f"Golden record ids are repeated: {held_out}." in message
    assert "Unknown golden record ids" in message
    assert "0" * 24 in message
    assert "belong to another database connection" in message
    assert foreign.pk in message


def test_holding_out_so_many_that_fewer_than_ten_remain_is_refused(api, connection, golden_records):
    message = refusal(
        create(
            api,
            db_connection_id=connection.pk,
            validation_golden_records=ids(golden_records[:3]),
        ),
        "golden_records",
    )

    assert message == validation_split.TOO_FEW_TRAINING_MESSAGE.format(
        minimum=10, left=9, held_out=3
    )


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.01, "holds out none"),
        (0.0, "holds out none"),
        (0.5, "leaves 6 to train on; at least 10 are required"),
    ],
)
def test_a_fraction_that_leaves_a_part_empty_or_too_small_is_refused(
    api, connection, golden_records, fraction, expected
):
    message = refusal(
        create(api, db_connection_id=connection.pk, validation_fraction=fraction),
        "validation_fraction",
    )

    assert expected in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"validation_fraction": 0.6}, "validation_fraction"),
        ({"validation_fraction": -0.1}, "validation_fraction"),
        ({"validation_fraction": "a fifth"}, "validation_fraction"),
        ({"validation_fraction": True}, "validation_fraction"),
        ({"validation_fraction": 0.2, "validation_seed": -1}, "validation_seed"),
        ({"validation_fraction": 0.2, "validation_seed": 2**31}, "validation_seed"),
        ({"validation_seed": 5}, "validation_seed"),
        ({"validation_golden_records": "abc"}, "validation_golden_records"),
        ({"validation_golden_records": [1, 2]}, "validation_golden_records"),
    ],
)
def test_malformed_split_fields_are_400s_in_the_error_shape(
    api, connection, golden_records, body, field
):
    refusal(create(api, db_connection_id=connection.pk, **body), field)


def test_a_non_finite_fraction_is_a_400_not_a_500(api, connection, golden_records):
    response = api.post(
        URL,
        data=f'{{"db_connection_id": "{connection.pk}", "validation_fraction": NaN}}',
        content_type="application/json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Finetuning.objects.count() == 0


# --- GET .../validation-file -------------------------------------------------------------


@pytest.fixture
def split_job(api, connection, make_golden_records):
    make_golden_records(connection, count=20)
    response = create(api, db_connection_id=connection.pk, validation_fraction=0.25)
    assert response.status_code == HTTPStatus.CREATED
    return response.json()


def test_the_validation_file_is_served_as_uploaded(api, openai_provider, split_job):
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    job = api.get(f"{URL}/{split_job['id']}").json()

    response = api.get(file_url(split_job["id"]), HTTP_ACCEPT="application/jsonl")

    served = b"".join(response.streaming_content)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/jsonl"
    assert f'filename="{split_job["id"]}-validation.jsonl"' in response["Content-Disposition"]
    assert served == openai_provider.files[job["validation_file_id"]]["content"]
    kept = Finetuning.objects.get(pk=split_job["id"])
    assert response["ETag"] == f'"{kept.validation_file_sha256}"'
    assert hashlib.sha256(served).hexdigest() == kept.validation_file_sha256
    assert len(served.splitlines()) == len(job["validation_golden_records"]) == 5
    examples = [json.loads(line)["messages"] for line in served.splitlines()]
    assert all(messages[2]["role"] == "assistant" for messages in examples)


def test_plain_bytes_of_the_validation_file_are_the_same(api, openai_provider, split_job):
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    job = api.get(f"{URL}/{split_job['id']}").json()

    response = api.get(file_url(split_job["id"]) + "/", HTTP_ACCEPT="application/octet-stream")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/octet-stream"
    served = b"".join(response.streaming_content)
    assert served == openai_provider.files[job["validation_file_id"]]["content"]


def test_before_the_worker_builds_it_the_route_says_so(api, split_job):
    response = api.get(file_url(split_job["id"]))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": validation_split.VALIDATION_FILE_NOT_READY_MESSAGE,
        "code": validation_split.CODE_VALIDATION_FILE_NOT_READY,
    }


def test_a_job_without_a_split_has_no_validation_file(api, finetuning):
    response = api.get(file_url(finetuning.pk), HTTP_ACCEPT="application/octet-stream")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert json.loads(response.content) == {
        "detail": validation_split.NO_VALIDATION_FILE_MESSAGE,
        "code": validation_split.CODE_NO_VALIDATION_FILE,
    }


def test_the_validation_file_route_needs_an_api_key(anonymous_api, finetuning):
    assert anonymous_api.get(file_url(finetuning.pk)).status_code == HTTPStatus.UNAUTHORIZED


def test_an_unknown_job_has_no_validation_file(api, db):
    assert api.get(file_url("0" * 24)).status_code == HTTPStatus.NOT_FOUND


def test_the_schema_documents_the_split_and_its_file(api):
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    route = schema["paths"]["/api/v1/finetunings/{id}/validation-file"]["get"]
    assert route["operationId"] == "finetunings_validation_file"
    assert {"200", "401", "404"} <= set(route["responses"])
    request = schema["components"]["schemas"]["FinetuningCreateRequest"]["properties"]
    assert request["validation_fraction"]["maximum"] == validation_split.FRACTION_MAX
    assert {"validation_golden_records", "validation_seed"} <= set(request)
    job = schema["components"]["schemas"]["Finetuning"]["properties"]
    assert {
        "validation_golden_records",
        "validation_fraction",
        "validation_seed",
        "validation_file_id",
    } <= set(job)
