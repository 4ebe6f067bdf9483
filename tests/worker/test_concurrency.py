"""Several workers against one PostgreSQL database: no job is submitted twice, and a worker
killed mid-submission leaves nothing another cannot finish."""

import subprocess
import sys
from datetime import timedelta

from django.utils import timezone

from finetunings import worker
from finetunings.models import Finetuning, FinetuningStatus
from tests.fakes.openai_server import CREATE, UPLOAD
from tests.helpers.threads import run_at_once
from tests.helpers.worker_process import (
    CONCURRENT_WORKER_MARKS,
    PROJECT_DIR,
    kill_once_the_provider_hears,
    worker_environment,
)

pytestmark = CONCURRENT_WORKER_MARKS


def test_two_workers_at_once_never_submit_the_same_job_twice(
    settings, openai_provider, connection, golden_records, make_finetuning
):
    jobs = [make_finetuning(connection) for _ in range(8)]
    settings.FINETUNING_WORKER_SUBMIT_BATCH = 2  # so both workers take turns on the queue
    openai_provider.delay_next(CREATE, 0.05, times=len(jobs))  # keep creates in flight
    submitted_by = {"w1": [], "w2": []}

    def work(worker_id):
        for _ in range(len(jobs)):
            report = worker.run_once(worker_id=worker_id, log=lambda line: None)
            submitted_by[worker_id].extend(report.submitted)

    failures = run_at_once(work)

    assert failures == []
    assert sorted(submitted_by["w1"] + submitted_by["w2"]) == sorted(job.pk for job in jobs)
    assert len(openai_provider.calls_to(CREATE)) == len(jobs)
    for job in jobs:
        job.refresh_from_db()
        [remote] = openai_provider.jobs_for(job.pk)
        assert job.finetuning_job_id == remote["id"]
        assert job.status == FinetuningStatus.VALIDATING_FILES


def test_a_worker_killed_mid_submission_is_finished_by_another_without_a_duplicate(
    openai_provider, finetuning
):
    release = openai_provider.pause(CREATE)  # the provider creates the job, then hangs
    doomed = subprocess.Popen(
        [sys.executable, "manage.py", "finetuning_worker", "--once"],
        cwd=PROJECT_DIR,
        env=worker_environment(openai_provider),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_once_the_provider_hears(openai_provider, CREATE, doomed, release)

    finetuning.refresh_from_db()
    assert finetuning.status == FinetuningStatus.VALIDATING_FILES
    assert finetuning.finetuning_job_id is None
    assert finetuning.lease_owner is not None
    # Time passes: the dead worker's lease runs out.
    Finetuning.objects.filter(pk=finetuning.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    worker.run_once(worker_id="survivor", log=lambda line: None)

    finetuning.refresh_from_db()
    [remote] = openai_provider.jobs_for(finetuning.pk)
    assert finetuning.finetuning_job_id == remote["id"]
    assert len(openai_provider.calls_to(CREATE)) == 1
    assert len(openai_provider.calls_to(UPLOAD)) == 1  # the dead worker's upload was kept
