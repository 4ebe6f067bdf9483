"""Request bodies: every string of every JSON body is checked once, in the API's parser.

A table of hostile inputs is sent to every write route: none may answer 5xx, each gets a
400 in the error shape, and nothing is written.
"""

import json
from http import HTTPStatus

import pytest

from finetunings.errors import ErrorCode
from finetunings.models import DatabaseConnection, Finetuning, FinetuningEvent, GoldenRecord

SURROGATE = "\ud800"
NUL = "\x00"


def post_raw(api, method, url, body: str):
    # json.dumps escapes a lone surrogate as \ud800, as a hostile client would send it.
    return api.generic(method, url, body, content_type="application/json")


def assert_error_shape(response, status=HTTPStatus.BAD_REQUEST):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    assert body["code"]
    return body


@pytest.mark.parametrize("bad", [SURROGATE, NUL, "a\udfffb"])
def test_a_metadata_key_with_a_surrogate_or_nul_is_refused_and_nothing_is_saved(
    api, connection, golden_records, bad
):
    before = Finetuning.objects.count()

    response = post_raw(
        api,
        "POST",
        "/api/v1/finetunings",
        json.dumps({"db_connection_id": connection.pk, "metadata": {bad: "v"}}),
    )

    body = assert_error_shape(response)
    assert body["code"] == ErrorCode.VALIDATION
    assert "metadata" in body["errors"]
    assert Finetuning.objects.count() == before


def test_an_enum_value_with_a_surrogate_is_a_400_that_does_not_echo_it(api):
    response = post_raw(
        api,
        "POST",
        "/api/v1/database-connections",
        json.dumps({"alias": "a", "dialect": SURROGATE, "connection_uri": "postgresql://h/d"}),
    )

    body = assert_error_shape(response)
    assert "dialect" in body["errors"]
    assert SURROGATE not in json.dumps(body, ensure_ascii=False).encode("utf-8", "replace").decode()
    assert not DatabaseConnection.objects.exists()


# --- Hostile inputs against every write route ------------------------------------------------

OVERSIZE = "x" * 200_001
HUGE_FLOAT = "__HUGE_FLOAT__"  # replaced by the literal 1e400 after json.dumps
HOSTILE_STRINGS = {
    "surrogate": f"a{SURROGATE}b",
    "low-surrogate": "\udfff",
    "nul": f"a{NUL}b",
    "oversize": OVERSIZE,
    "huge-int": 10**400,
    "huge-float": HUGE_FLOAT,
    "deep": [[[[[[[[[[["deep"]]]]]]]]]]],
}
DEEP_BODY = "[" * 100_000 + "]" * 100_000


def write_routes(connection, record, job):
    """(name, method, url, a valid body) of every route that writes."""
    golden = {
        "db_connection_id": connection.pk,
        "question": "How many orders?",
        "sql": "SELECT count(*) FROM orders",
        "metadata": {"team": "sales"},
    }
    conn = {
        "alias": "warehouse",
        "dialect": "postgresql",
        "connection_uri": "postgresql://u:p@h/d",
        "schema": "CREATE TABLE t (id int);",
        "metadata": {"team": "sales"},
    }
    return [
        ("connection-create", "POST", "/api/v1/database-connections", conn),
        ("connection-put", "PUT", f"/api/v1/database-connections/{connection.pk}", conn),
        (
            "connection-patch",
            "PATCH",
            f"/api/v1/database-connections/{connection.pk}",
            {"alias": "renamed", "metadata": {"team": "sales"}},
        ),
        ("golden-create", "POST", "/api/v1/golden-records", golden),
        ("golden-bulk", "POST", "/api/v1/golden-records", [golden, dict(golden)]),
        (
            "golden-patch",
            "PATCH",
            f"/api/v1/golden-records/{record.pk}",
            {"question": "Q?", "sql": "SELECT 1", "metadata": {"team": "sales"}},
        ),
        (
            "job-create",
            "POST",
            "/api/v1/finetunings",
            {
                "db_connection_id": connection.pk,
                "alias": "job",
                "base_llm": {
                    "model_provider": "openai",
                    "model_name": "gpt-4o-mini-2024-07-18",
                    "model_parameters": {"n_epochs": 3},
                },
                "metadata": {"team": "sales"},
            },
        ),
        (
            "job-patch",
            "PATCH",
            f"/api/v1/finetunings/{job.pk}",
            {"alias": "renamed", "metadata": {"team": "sales"}},
        ),
        (
            "cancel",
            "POST",
            f"/api/v1/finetunings/{job.pk}/cancel",
            {"finetuning_id": job.pk, "metadata": {"team": "sales"}},
        ),
    ]


def leaves(value, path=()):
    """Paths of every key and every scalar of a body."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, ("key", key))
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def mutate(body, path, hostile):
    body = json.loads(json.dumps(body))
    *parents, last = path
    target = body
    for step in parents:
        target = target[step]
    if isinstance(last, tuple):  # a key: rename it to the hostile text (strings only)
        target[f"k{hostile}" if isinstance(hostile, str) else "k"] = target.pop(last[1])
    else:
        target[last] = hostile
    return json.dumps(body).replace(f'"{HUGE_FLOAT}"', "1e400")


ROUTE_NAMES = [
    "connection-create",
    "connection-put",
    "connection-patch",
    "golden-create",
    "golden-bulk",
    "golden-patch",
    "job-create",
    "job-patch",
    "cancel",
]


def snapshot():
    return [
        list(model.objects.order_by("pk").values())
        for model in (DatabaseConnection, GoldenRecord, Finetuning, FinetuningEvent)
    ]


@pytest.fixture
def targets(connection, golden_records, finetuning):
    return connection, golden_records[0], finetuning


@pytest.mark.parametrize("hostile_name", [*HOSTILE_STRINGS, "deep-body"])
@pytest.mark.parametrize("route_name", ROUTE_NAMES)
def test_hostile_input_on_every_write_route_is_a_400_and_writes_nothing(
    api, targets, route_name, hostile_name
):
    name, method, url, valid = next(r for r in write_routes(*targets) if r[0] == route_name)
    if hostile_name == "deep-body":
        bodies = [DEEP_BODY]
    else:
        hostile = HOSTILE_STRINGS[hostile_name]
        paths = [
            path
            for path in leaves(valid)
            # Every key is checked for NUL and surrogates; length applies to metadata keys
            # (unknown fields are ignored, so renaming one to a long name is no error).
            if not isinstance(path[-1], tuple)
            or hostile_name in ("surrogate", "low-surrogate", "nul")
            or ("metadata" in path and hostile_name == "oversize")
        ]
        bodies = [mutate(valid, path, hostile) for path in paths]
    before = snapshot()

    for body in bodies:
        response = post_raw(api, method, url, body)

        assert_error_shape(response)
        assert snapshot() == before, body[:200]


@pytest.mark.parametrize("route_name", ROUTE_NAMES)
def test_the_valid_bodies_of_the_hostile_table_are_accepted(api, targets, route_name):
    """The table's bodies are valid, so each 400 above is the hostile value's doing."""
    name, method, url, valid = next(r for r in write_routes(*targets) if r[0] == route_name)

    response = post_raw(api, method, url, json.dumps(valid))

    assert response.status_code in (HTTPStatus.OK, HTTPStatus.CREATED), response.content[:300]


def test_deeply_nested_json_is_400_parse_error(api, db):
    body = '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = api.generic("POST", "/api/v1/finetunings", body, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == ErrorCode.PARSE_ERROR
