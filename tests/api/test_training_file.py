"""GET /api/v1/finetunings/{id}/training-file: the exact bytes the job trains on."""

import hashlib
from http import HTTPStatus

import pytest

from finetunings import errors, worker
from finetunings.errors import ErrorCode

pytestmark = pytest.mark.usefixtures("no_network")


def url(finetuning):
    return f"/api/v1/finetunings/{finetuning.pk}/training-file"


def test_the_route_serves_the_bytes_that_were_uploaded(api, openai_provider, finetuning):
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    finetuning.refresh_from_db()

    response = api.get(url(finetuning), HTTP_ACCEPT="application/jsonl")

    served = b"".join(response.streaming_content)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/jsonl"
    assert f'filename="{finetuning.pk}.jsonl"' in response["Content-Disposition"]
    assert served == openai_provider.files[finetuning.finetuning_file_id]["content"]
    assert hashlib.sha256(served).hexdigest() == finetuning.training_file_sha256
    assert len(served.splitlines()) == len(finetuning.golden_records)
    summary = api.get(f"/api/v1/finetunings/{finetuning.pk}").json()["training_summary"]
    assert summary["examples"] == len(finetuning.golden_records)
    assert summary["tokens"] > 0


def test_before_the_file_is_built_the_route_says_so(api, finetuning):
    response = api.get(url(finetuning) + "/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": errors.TRAINING_FILE_NOT_READY_MESSAGE,
        "code": ErrorCode.TRAINING_FILE_NOT_READY,
    }


def test_the_route_needs_an_api_key(anonymous_api, finetuning):
    assert anonymous_api.get(url(finetuning)).status_code == HTTPStatus.UNAUTHORIZED


def test_a_client_asking_for_plain_bytes_gets_the_same_file(api, openai_provider, finetuning):
    # The schema offers application/octet-stream too, for client generators.
    worker.run_once(worker_id="test-worker", log=lambda line: None)
    finetuning.refresh_from_db()

    response = api.get(url(finetuning), HTTP_ACCEPT="application/octet-stream")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/octet-stream"
    served = b"".join(response.streaming_content)
    assert served == openai_provider.files[finetuning.finetuning_file_id]["content"]


def test_plain_bytes_of_a_file_not_built_yet_are_a_404_that_says_so(api, finetuning):
    response = api.get(url(finetuning), HTTP_ACCEPT="application/octet-stream")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.content.startswith(b"{")
    assert ErrorCode.TRAINING_FILE_NOT_READY.encode() in response.content
