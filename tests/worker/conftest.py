from datetime import timedelta

import pytest
from django.utils import timezone

from finetunings import worker
from finetunings.models import Finetuning, ProviderPause


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
    """Skip the waits (back-off, poll interval, a 429's pause), as if the time had come."""

    def due(finetuning):
        Finetuning.objects.filter(pk=finetuning.pk).update(
            next_attempt_at=None, last_polled_at=None
        )
        ProviderPause.objects.all().delete()

    return due


@pytest.fixture
def followed_jobs(connection, golden_records):
    """``count`` jobs the provider runs already, created in the same order here and there."""

    def make(fake, count, status="running", provider_status=None):

        start = timezone.now() - timedelta(seconds=count + 5)
        jobs = []
        for index in range(count):
            remote = fake.add_job(status=provider_status or status)
            jobs.append(
                Finetuning(
                    db_connection=connection,
                    alias=f"followed{index}",
                    model_name="gpt-4o-mini-2024-07-18",
                    golden_records=[record.pk for record in golden_records],
                    status=status,
                    provider_status=provider_status or status,
                    finetuning_job_id=remote["id"],
                    created_at=start + timedelta(seconds=index),
                )
            )
        Finetuning.objects.bulk_create(jobs)
        # auto_now_add ignores the given time: set it, so our order is the provider's.
        for job in jobs:
            Finetuning.objects.filter(pk=job.pk).update(created_at=job.created_at)
        return jobs

    return make


@pytest.fixture
def running(run_pass, openai_provider, finetuning):
    """A job the worker has submitted; the provider now runs it."""
    run_pass()
    finetuning.refresh_from_db()
    openai_provider.set_status(finetuning.finetuning_job_id, "running")
    return finetuning
