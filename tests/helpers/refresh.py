"""The worker's refresh pass as the refresh tests drive it, against the fake OpenAI."""

from finetunings import worker
from finetunings.models import Finetuning
from finetunings.providers import get_provider


def refresh(worker_id="test-worker"):
    """One refresh pass; returns its report and the lines it printed."""
    lines = []
    report = worker.refresh_active_jobs(
        provider=get_provider("openai"), worker_id=worker_id, log=lines.append
    )
    return report, lines


def due_again(*jobs):
    """Make ``jobs`` due for their next poll, as if their interval had passed."""
    Finetuning.objects.filter(pk__in=[job.pk for job in jobs]).update(last_polled_at=None)
