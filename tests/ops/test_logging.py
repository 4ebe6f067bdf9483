"""Log lines: one JSON object per line with time, level, request id, job id, worker id."""

import json
import logging

import pytest

from finetunings.ops import context
from finetunings.ops.logging import ContextFilter, JSONFormatter


@pytest.fixture
def json_lines():
    """Records of every logger, formatted exactly as the production console handler does."""
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(JSONFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lines
    root.removeHandler(handler)


def test_a_log_line_is_json_with_time_level_and_context(json_lines):
    with context.bound(context.worker_id, "host:7:abc"), context.bound(context.job_id, "j1"):
        logging.getLogger("finetunings.worker").warning("backing off %s", "j1")

    (line,) = json_lines
    assert line["level"] == "WARNING"
    assert line["logger"] == "finetunings.worker"
    assert line["message"] == "backing off j1"
    assert line["worker_id"] == "host:7:abc"
    assert line["job_id"] == "j1"
    assert line["time"].endswith("+00:00")


def test_lines_logged_during_a_request_carry_its_id_and_the_job(
    api, json_lines, finetuning, monkeypatch
):
    from finetunings import services

    cancel = services.finetuning_cancel

    def logged_cancel(**kwargs):
        logging.getLogger("finetunings.services").info("cancelling")
        return cancel(**kwargs)

    monkeypatch.setattr(services, "finetuning_cancel", logged_cancel)

    response = api.post(
        f"/api/v1/finetunings/{finetuning.pk}/cancel",
        {},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
    )

    assert response["X-Request-ID"] == "req-42"
    line = next(line for line in json_lines if line["message"] == "cancelling")
    assert line["request_id"] == "req-42"
    assert line["job_id"] == finetuning.pk


def test_a_request_without_a_usable_id_gets_a_new_one(api):
    response = api.get("/api/v1/finetunings", HTTP_X_REQUEST_ID="bad id\nwith a newline")

    assert response["X-Request-ID"] != "bad id\nwith a newline"
    assert len(response["X-Request-ID"]) == 32


def test_an_exception_is_one_line_with_its_traceback(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("finetunings").exception("it failed")

    (line,) = json_lines
    assert line["message"] == "it failed"
    assert "ValueError: boom" in line["exception"]


def test_the_workers_lines_about_a_job_carry_its_id(json_lines, openai_provider, finetuning):
    from django.core.management import call_command

    call_command("finetuning_worker", "--once")

    submitted = [line for line in json_lines if "submitted as provider job" in line["message"]]
    assert submitted
    assert submitted[0]["job_id"] == finetuning.pk
    assert submitted[0]["worker_id"]
