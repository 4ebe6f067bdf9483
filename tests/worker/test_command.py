"""``manage.py finetuning_worker`` as an operator runs it: a loop that SIGTERM ends cleanly."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from finetunings.providers.openai import NOT_CONFIGURED_MESSAGE

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_worker_loop_stops_cleanly_on_sigterm(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "FINETUNING_MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_DEBUG": "0",
        "DJANGO_LOG_FORMAT": "json",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=PROJECT_DIR, env=env, check=True)
    process = subprocess.Popen(
        [*manage, "finetuning_worker", "--sleep", "600"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        first_pass = json.loads(process.stdout.readline())  # then it sleeps for ten minutes
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()

    # One JSON object per line, through logging: time, level and the worker's id.
    assert started["message"].startswith("worker ")
    assert started["message"].endswith("started")
    assert started["level"] == "INFO"
    assert started["time"]
    assert started["worker_id"] in started["message"]
    assert NOT_CONFIGURED_MESSAGE in first_pass["message"]
    assert first_pass["worker_id"] == started["worker_id"]
    assert process.returncode == 0
    assert json.loads(rest.strip().splitlines()[-1])["message"].endswith("stopped")
