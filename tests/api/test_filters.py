"""List filters: a `created_at` bound outside what the database can hold is never a 500."""

from http import HTTPStatus

import pytest


@pytest.mark.parametrize("parameter", ["created_after", "created_before"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: OverflowError (SQLite)
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC: OverflowError (SQLite)
        "2020-01-01T00:00:00+18:00",  # PostgreSQL: time zone displacement out of range
    ],
)
def test_created_at_filter_out_of_range_is_400_or_200_never_500(api, db, parameter, value):
    response = api.get("/api/v1/finetunings", {parameter: value})

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}, response.content[:300]
    if response.status_code == HTTPStatus.BAD_REQUEST:
        assert parameter in response.json()["errors"]
