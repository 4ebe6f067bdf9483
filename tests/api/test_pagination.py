"""Cursor pagination: a cursor whose position cannot be read is a 400 naming `cursor`."""

import base64

import pytest

from tests.helpers.api import assert_400_naming


@pytest.mark.parametrize(
    "path", ["/api/v1/finetunings", "/api/v1/golden-records", "/api/v1/database-connections"]
)
@pytest.mark.parametrize("position", ["garbage", "\u0000"])
def test_cursor_with_a_bad_position_is_400(api, db, path, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()

    response = api.get(path, {"cursor": cursor})

    assert_400_naming(response, "cursor")


def test_events_cursor_with_a_bad_position_is_400(api, finetuning):
    cursor = base64.b64encode(b"p=garbage").decode()

    response = api.get(f"/api/v1/finetunings/{finetuning.pk}/events", {"cursor": cursor})

    assert_400_naming(response, "cursor")
