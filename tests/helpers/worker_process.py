"""Worker processes (``manage.py finetuning_worker``) started by tests."""

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Workers running beside the test (threads or processes) hold their own database
# connections: they see only committed data, and need PostgreSQL's row locks.
CONCURRENT_WORKER_MARKS = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def worker_environment(fake, **environment) -> dict[str, str]:
    """The environment of a worker process on the test's database and the fake OpenAI."""
    database = db_connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "FINETUNING_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **environment,
    }


def kill_once_the_provider_hears(fake, operation, process, release) -> None:
    """SIGKILL the worker ``process`` as soon as its ``operation`` call reached the fake
    (paused there), then let the fake answer: the provider acted, the worker never knew."""
    try:
        assert fake.arrived[operation].wait(timeout=30)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        release.set()
