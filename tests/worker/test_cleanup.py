"""The clean-up of provider jobs nobody pays for on purpose: jobs cancelled while their
provider job was being created are stopped at the provider, one failure at a time."""

import io
from datetime import timedelta

from django.utils import timezone

from finetunings.models import Finetuning, FinetuningStatus


def test_one_unstoppable_late_provider_job_does_not_leave_the_others_running(
    run_pass, openai_provider, real_provider, connection, golden_records, make_finetuning
):
    file_id = real_provider.upload_training_file(filename="a.jsonl", file=io.BytesIO(b"{}\n"))
    jobs = []
    for _ in range(2):  # both cancelled while their provider job was being created
        job = make_finetuning(connection, status=FinetuningStatus.CANCELLED)
        remote = real_provider.create_job(
            training_file_id=file_id,
            model=job.model_name,
            hyperparameters={},
            suffix=None,
            metadata={"finetuning_id": job.pk},
        )
        Finetuning.objects.filter(pk=job.pk).update(
            finetuning_job_id=remote.id, provider_status=remote.status
        )
        jobs.append(job)
    older, newer = jobs
    Finetuning.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    # The newer one's provider job is gone at the provider (404 to cancel and to retrieve).
    del openai_provider.jobs[Finetuning.objects.get(pk=newer.pk).finetuning_job_id]

    _, lines = run_pass()
    _, later_lines = run_pass()

    assert any(line.startswith(f"{newer.pk}: provider job") for line in lines), lines
    [still_paid_for] = openai_provider.jobs_for(older.pk)
    assert still_paid_for["status"] == "cancelled"
    # The job the provider no longer has is recorded as gone, not retried on every pass.
    assert Finetuning.objects.get(pk=newer.pk).provider_status == "not_found"
    assert not any(line.startswith(f"{newer.pk}:") for line in later_lines), later_lines
