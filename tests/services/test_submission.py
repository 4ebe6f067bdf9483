"""The worker's writes while it submits a job: each one holds only while the worker still
holds the job, and says what the user will read."""

from finetunings.models import Finetuning, FinetuningEvent, FinetuningEventKind, FinetuningStatus
from finetunings.services.submission import (
    finetuning_back_off,
    finetuning_fail,
    finetuning_set_waiting_reason,
)


def held_by(job, worker_id):
    Finetuning.objects.filter(pk=job.pk).update(lease_owner=worker_id, attempts=1)
    return job


def test_a_back_off_says_why_and_when_and_gives_the_job_back(finetuning):
    message = finetuning_back_off(
        finetuning=held_by(finetuning, "w1"), worker_id="w1", reason="The provider is busy."
    )

    job = Finetuning.objects.get(pk=finetuning.pk)
    assert message.startswith("The provider is busy. The worker will try again at ")
    assert (job.status_message, job.lease_owner) == (message, None)
    assert job.next_attempt_at is not None
    errors = FinetuningEvent.objects.filter(finetuning=job, kind=FinetuningEventKind.ERROR)
    assert list(errors.values_list("message", flat=True)) == [message]


def test_a_worker_that_no_longer_holds_the_job_can_neither_back_off_nor_fail_it(finetuning):
    held_by(finetuning, "w2")

    backed_off = finetuning_back_off(finetuning=finetuning, worker_id="w1", reason="Busy.")
    failed = finetuning_fail(finetuning=finetuning, worker_id="w1", reason="Refused.")

    job = Finetuning.objects.get(pk=finetuning.pk)
    assert (backed_off, failed) == (None, False)
    assert (job.status, job.status_message, job.error) == (FinetuningStatus.QUEUED, None, None)


def test_a_permanent_failure_ends_the_job_with_its_reason(finetuning):
    failed = finetuning_fail(
        finetuning=held_by(finetuning, "w1"), worker_id="w1", reason="The model is retired."
    )

    job = Finetuning.objects.get(pk=finetuning.pk)
    assert failed is True
    assert (job.status, job.error) == (FinetuningStatus.FAILED, "The model is retired.")


def test_every_waiting_job_is_told_why_it_waits_once(connection, golden_records, make_finetuning):
    waiting = [make_finetuning(connection) for _ in range(2)]
    running = make_finetuning(connection, status=FinetuningStatus.RUNNING, finetuning_job_id="ft")

    told = finetuning_set_waiting_reason(reason="No OpenAI API key is configured.")
    told_again = finetuning_set_waiting_reason(reason="No OpenAI API key is configured.")

    assert (told, told_again) == (2, 0)
    messages = dict(Finetuning.objects.values_list("pk", "status_message"))
    assert [messages[job.pk] for job in waiting] == ["No OpenAI API key is configured."] * 2
    assert messages[running.pk] is None
