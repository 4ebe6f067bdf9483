"""Routes: no format suffixes (``.json``) anywhere, so none can reach a view that lacks them."""

from http import HTTPStatus

import pytest

from finetunings.errors import ErrorCode


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/finetunings.json"),
        ("get", "/api/v1/finetunings/{job}.json"),
        ("get", "/api/v1/finetunings/{job}/events.json"),
        ("get", "/api/v1/finetunings/{job}/training-file.json"),
        ("get", "/api/v1/finetunings/{job}/training-file.jsonl"),
        ("post", "/api/v1/finetunings/{job}/cancel.json"),
        ("get", "/api/v1/database-connections.json"),
        ("get", "/api/v1/golden-records/{record}.json"),
    ],
)
def test_format_suffix_routes_are_json_404s_and_change_nothing(
    api, finetuning, golden_records, method, path
):
    url = path.format(job=finetuning.pk, record=golden_records[0].pk)

    response = getattr(api, method)(url)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND
    finetuning.refresh_from_db()
    assert finetuning.status == "queued"


def test_schema_documents_no_format_suffix_routes(anonymous_api, db):
    schema = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    assert not [path for path in schema["paths"] if "{format}" in path or path.endswith(".json")]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/database-connections/a%00b",
        "/api/v1/golden-records/a%00b",
        "/api/v1/finetunings/a%00b",
        "/api/v1/finetunings/a%00b/events",
    ],
)
def test_id_with_nul_in_the_path_is_404(api, db, path):
    response = api.get(path)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == ErrorCode.NOT_FOUND
