import pytest

from finetunings import worker
from finetunings.models import Finetuning


@pytest.fixture
def run_pass():
    """One worker pass; returns its report and the lines it printed."""

    def run(worker_id="test-worker"):
        lines = []
        report = worker.run_once(worker_id=worker_id, log=lines.append)
        return report, lines

    return run


@pytest.fixture
def make_due():
    """Skip the waits (back-off, poll interval), as if the time had come."""

    def due(finetuning):
        Finetuning.objects.filter(pk=finetuning.pk).update(
            next_attempt_at=None, last_polled_at=None
        )

    return due
