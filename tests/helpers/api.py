"""What the API tests share: a 400 that names the field, metadata PostgreSQL cannot store,
and a cancel posted through the API."""

from http import HTTPStatus

from finetunings.errors import ErrorCode

NUL_KEY_METADATA = {"team\u0000": "growth"}


def assert_400_naming(response, field):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    body = response.json()
    assert body["code"] == ErrorCode.VALIDATION
    assert any(name == field or name.startswith(f"{field}.") for name in body["errors"]), body


def post_cancel(api, finetuning, **body):
    """Cancel ``finetuning`` through the API, with ``body`` as the request's fields."""
    return api.post(f"/api/v1/finetunings/{finetuning.pk}/cancel", body, format="json")
