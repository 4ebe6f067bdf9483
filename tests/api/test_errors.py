"""One error shape everywhere, and no request that can cause a 500."""

from http import HTTPStatus

import pytest

from finetunings.errors import ErrorCode
from finetunings.models import Finetuning


def test_malformed_json_is_400_parse_error(api, connection):
    response = api.generic(
        "POST", "/api/v1/finetunings", '{"db_connection_id": ', content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.PARSE_ERROR
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "non_field_errors"),
        ("just a string", "non_field_errors"),
        ({"db_connection_id": 42}, "db_connection_id"),
        ({"db_connection_id": None}, "db_connection_id"),
        ({"db_connection_id": "x", "golden_records": "abc"}, "golden_records"),
        ({"db_connection_id": "x", "golden_records": [1, 2]}, "golden_records.0"),
        ({"db_connection_id": "x", "metadata": ["a"]}, "metadata"),
        ({"db_connection_id": "x", "metadata": {"a": 1}}, "metadata.a"),
        ({"db_connection_id": "x", "base_llm": "gpt-4"}, "base_llm.non_field_errors"),
        (
            {"db_connection_id": "x", "base_llm": {"model_parameters": {"n_epochs": True}}},
            "base_llm.model_parameters.n_epochs",
        ),
        (
            {"db_connection_id": "x", "base_llm": {"model_parameters": {"n_epochs": [3]}}},
            "base_llm.model_parameters.n_epochs",
        ),
    ],
)
def test_wrong_json_types_are_400_naming_the_field(api, body, field):
    response = api.post("/api/v1/finetunings", body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    payload = response.json()
    assert payload["code"] == ErrorCode.VALIDATION
    assert field in payload["errors"], payload
    assert payload["detail"].startswith("Invalid input.")
    assert not Finetuning.objects.exists()


def test_unsupported_media_type_is_415_in_the_error_shape(api):
    response = api.generic(
        "POST", "/api/v1/finetunings", "db_connection_id=x", content_type="text/plain"
    )

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["code"] == ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_method_not_allowed_is_405_in_the_error_shape(api, finetuning):
    response = api.put(f"/api/v1/finetunings/{finetuning.pk}", {}, format="json")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["code"] == ErrorCode.METHOD_NOT_ALLOWED


def test_unknown_route_is_json_404(api):
    response = api.get("/api/v1/no-such-thing")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "No such API route: /api/v1/no-such-thing",
        "code": ErrorCode.NOT_FOUND,
    }


@pytest.mark.parametrize("suffix", ["", "/"])
def test_routes_work_with_and_without_trailing_slash(api, finetuning, suffix):
    assert api.get(f"/api/v1/finetunings{suffix}").status_code == HTTPStatus.OK
    assert api.get(f"/api/v1/finetunings/{finetuning.pk}{suffix}").status_code == HTTPStatus.OK
    response = api.post(f"/api/v1/finetunings/{finetuning.pk}/cancel{suffix}", format="json")
    assert response.status_code == HTTPStatus.OK


def test_oversized_body_is_413_not_500(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(
        "/api/v1/golden-records", {"question": "x" * 2000, "sql": "SELECT 1"}, format="json"
    )

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["code"] == ErrorCode.REQUEST_TOO_LARGE
