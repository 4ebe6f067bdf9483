"""The seed documentation's cancel request, sent as written (plus the auth header)."""

import json
from http import HTTPStatus

from finetunings.errors import CANCELLED_BY_USER_MESSAGE

SEED_FIELDS = {
    "id": str,
    "alias": str,
    "db_connection_id": str,
    "status": str,
    "error": str,
    "base_llm": dict,
    "finetuning_file_id": type(None),
    "finetuning_job_id": type(None),
    "model_id": type(None),
    "created_at": str,
    "golden_records": list,
    "metadata": type(None),
}


def test_seed_cancel_example_returns_every_seed_field(api, finetuning):
    response = api.generic(
        "POST",
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        json.dumps({"finetuning_id": finetuning.pk}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    for field, kind in SEED_FIELDS.items():
        assert isinstance(body[field], kind), field
    assert body["id"] == finetuning.pk
    assert body["status"] == "cancelled"
    assert body["error"] == CANCELLED_BY_USER_MESSAGE
    assert set(body["base_llm"]) == {"model_provider", "model_name", "model_parameters"}
    assert body["base_llm"]["model_provider"] == "openai"
    assert len(body["golden_records"]) == 12
