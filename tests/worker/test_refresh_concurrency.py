"""Several worker processes share the refresh on PostgreSQL: each due job is polled once per
interval whatever their number, a killed worker's batch is taken over after its lease, and
SIGTERM stops a worker within seconds with its leases given back."""

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from finetunings import worker
from finetunings.models import Finetuning
from tests.fakes.openai_server import EVENTS, LIST, RETRIEVE
from tests.helpers.worker_process import (
    CONCURRENT_WORKER_MARKS,
    PROJECT_DIR,
    kill_once_the_provider_hears,
    worker_environment,
)

pytestmark = CONCURRENT_WORKER_MARKS


def start_worker(fake, *, once=False, **environment):
    env = worker_environment(
        fake,
        FINETUNING_WORKER_POLL_SECONDS="600",  # one interval lasts the whole test
        **environment,
    )
    command = [sys.executable, "manage.py", "finetuning_worker"]
    command += ["--once"] if once else ["--sleep", "0.2"]
    return subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_until(condition, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.communicate(timeout=30)[0].decode() for process in processes]


@pytest.mark.parametrize("workers", [2, 4])
def test_worker_processes_poll_each_of_200_jobs_once_per_interval(
    openai_provider, followed_jobs, workers
):
    jobs = followed_jobs(openai_provider, 200, status="running")
    remote_ids = {job.finetuning_job_id for job in jobs}

    processes = [
        start_worker(openai_provider, FINETUNING_WORKER_REFRESH_BATCH="25") for _ in range(workers)
    ]
    try:
        polled = wait_until(
            lambda: not Finetuning.objects.filter(last_polled_at__isnull=True).exists()
        )
        time.sleep(1)  # a worker that would poll a job twice has had the time to do it
    finally:
        outputs = stop_all(processes)

    assert polled, outputs
    coverage = Counter(openai_provider.calls_to(RETRIEVE))
    for page in openai_provider.listed:
        coverage.update(job_id for job_id in page if job_id in remote_ids)
    assert set(coverage) == remote_ids
    assert set(coverage.values()) == {1}, coverage.most_common(3)  # each job exactly once
    assert len(openai_provider.calls_to(LIST)) == 200 // 25  # one list call per batch
    assert Counter(openai_provider.calls_to(EVENTS)) == Counter(remote_ids)
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()
    assert all("stopped" in output for output in outputs)


def test_a_killed_workers_claimed_batch_is_polled_by_another_after_its_lease(
    openai_provider, followed_jobs
):
    jobs = followed_jobs(openai_provider, 30, status="queued", provider_status="running")
    release = openai_provider.pause(LIST)  # the provider answers, the worker never hears it
    doomed = start_worker(openai_provider, once=True, FINETUNING_WORKER_REFRESH_BATCH="20")
    kill_once_the_provider_hears(openai_provider, LIST, doomed, release)

    leased = set(Finetuning.objects.filter(lease_owner__isnull=False).values_list("pk", flat=True))
    assert len(leased) == 20
    # Another worker meanwhile takes what is free, not the dead worker's batch.
    report = worker.run_once(worker_id="survivor", log=lambda line: None)
    assert report.refreshed == 10
    assert set(Finetuning.objects.filter(status="queued").values_list("pk", flat=True)) == leased

    # Time passes: the dead worker's lease runs out.
    Finetuning.objects.filter(pk__in=leased).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    report = worker.run_once(worker_id="survivor", log=lambda line: None)

    assert report.refreshed == 20
    assert Finetuning.objects.filter(status="running").count() == len(jobs)
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()


def test_sigterm_stops_a_worker_within_seconds_with_its_leases_released(
    openai_provider, followed_jobs
):
    followed_jobs(openai_provider, 100, status="queued", provider_status="running")
    openai_provider.answer_delay = 0.2  # 100 retrieves one at a time: 20 s for the batch
    running = start_worker(
        openai_provider,
        FINETUNING_WORKER_REFRESH_BATCH="100",
        FINETUNING_WORKER_LIST_MAX_PAGES="0",
        FINETUNING_WORKER_PROVIDER_CONCURRENCY="1",
    )
    try:
        assert wait_until(lambda: len(openai_provider.calls_to(RETRIEVE)) >= 3, timeout=30)
        assert Finetuning.objects.filter(lease_owner__isnull=False).exists()
        running.send_signal(signal.SIGTERM)
        output = running.communicate(timeout=5)[0].decode()  # within seconds, not 20
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()

    assert running.returncode == 0
    assert "stopped" in output
    retrieved = len(openai_provider.calls_to(RETRIEVE))
    assert retrieved < 100
    # What it asked the provider about is recorded; the rest is free for another worker.
    assert Finetuning.objects.filter(status="running").count() == retrieved
    assert not Finetuning.objects.filter(lease_owner__isnull=False).exists()
