"""The sandbox provider's simulated job: its statuses and events follow the clock."""

import datetime

import pytest

from finetunings.providers import ProviderRejected
from finetunings.providers.sandbox import STEPS, SandboxProvider


def job_started(seconds_ago: float) -> str:
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds_ago)
    return f"sandbox-ftjob-{int(started.timestamp() * 1000)}-abcd"


@pytest.fixture
def sandbox(settings):
    settings.FINETUNING_SANDBOX_STEP_SECONDS = 10
    return SandboxProvider()


@pytest.mark.parametrize(
    ("seconds_ago", "status", "metrics"),
    [(5, "validating_files", 0), (35, "running", 3), (10 * (STEPS + 1) + 5, "succeeded", STEPS)],
)
def test_a_job_moves_through_its_steps_with_time(sandbox, seconds_ago, status, metrics):
    job_id = job_started(seconds_ago)

    job = sandbox.retrieve_job(job_id)
    events = sandbox.list_job_events(job_id).events

    assert job.status == status
    assert sum(1 for e in events if e.type == "metrics") == metrics
    assert (job.fine_tuned_model or "").startswith("ft:sandbox:") == (status == "succeeded")
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)


def test_a_finished_job_cannot_be_cancelled(sandbox):
    with pytest.raises(ProviderRejected):
        sandbox.cancel_job(job_started(10 * (STEPS + 2)))


def test_an_id_it_did_not_make_is_a_404(sandbox):
    with pytest.raises(ProviderRejected) as refused:
        sandbox.retrieve_job("ftjob-abc")

    assert refused.value.status_code == 404


def test_events_page_newest_first_towards_older_ones(sandbox):
    job_id = job_started(10 * (STEPS + 2))
    every = sandbox.list_job_events(job_id).events

    first = sandbox.list_job_events(job_id, limit=4)
    rest = sandbox.list_job_events(job_id, after=first.events[-1].id)

    assert first.has_more
    assert not rest.has_more
    assert [e.id for e in first.events + rest.events] == [e.id for e in every]
