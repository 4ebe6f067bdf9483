"""Responses render whatever they carry: a lone surrogate is escaped, never a 500."""

import json

from finetunings.api.renderers import JSONRenderer
from finetunings.errors import ErrorCode


def test_json_with_a_lone_surrogate_renders_escaped():
    body = JSONRenderer().render({"detail": "Not a choice: \ud800 é", "code": ErrorCode.VALIDATION})

    assert json.loads(body) == {"detail": "Not a choice: \ud800 é", "code": ErrorCode.VALIDATION}
    assert b"\\ud800" in body


def test_json_without_surrogates_stays_utf8():
    assert JSONRenderer().render({"a": "é"}) == '{"a":"é"}'.encode()
