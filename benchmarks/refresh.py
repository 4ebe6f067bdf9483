"""Benchmark: refresh 1,000 active jobs, counting the calls made to the provider.

The worker follows active jobs with the provider's list endpoint (100 jobs per page)
rather than one retrieve per job. This drives the real OpenAI SDK against the fake OpenAI
server (tests/fakes/openai_server.py), which also holds 200 finished jobs that are not
ours, and counts the calls it receives.

    .venv/bin/python benchmarks/refresh.py [ACTIVE_JOBS]
"""

import sys
import time
from collections import Counter

from _django import PROJECT_DIR, setup


def main(active: int) -> None:
    setup()
    sys.path.insert(0, str(PROJECT_DIR))
    from django.conf import settings
    from django.utils import timezone

    from finetunings import services, worker
    from finetunings.models import Finetuning, FinetuningStatus, GoldenRecord
    from finetunings.providers import get_provider, reset_providers
    from tests.fakes.openai_server import FakeOpenAI

    fake = FakeOpenAI().start()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = fake.base_url
    reset_providers()
    provider = get_provider("openai")

    connection = services.database_connection_create(
        alias="bench", dialect="postgresql", connection_uri="postgresql://db/shop", schema=""
    )
    GoldenRecord.objects.bulk_create(
        GoldenRecord(db_connection=connection, question=f"q{i}", sql="SELECT 1") for i in range(10)
    )
    template = services.finetuning_create(db_connection_id=connection.pk, actor="benchmark")
    # Seeded at the fake directly: what is measured is the refresh, not the creates.
    remote_ids = [
        fake.add_job(metadata={"finetuning_id": f"job{index}"})["id"]
        for index in range(active + 200)
    ]
    for remote_id in remote_ids[active:]:
        fake.set_status(remote_id, "succeeded")  # finished jobs of someone else
    Finetuning.objects.bulk_create(
        Finetuning(
            db_connection=connection,
            alias=f"job{index}",
            model_name=template.model_name,
            golden_records=template.golden_records,
            status=FinetuningStatus.RUNNING,
            provider_status="running",
            finetuning_job_id=remote_id,
            created_at=timezone.now(),
        )
        for index, remote_id in enumerate(remote_ids[:active])
    )

    def refresh(label: str) -> None:
        Finetuning.objects.update(last_polled_at=None)
        before = len(fake.calls)
        started = time.perf_counter()
        while worker.refresh_active_jobs(provider=provider, log=lambda line: None).claimed:
            pass
        seconds = time.perf_counter() - started
        calls = Counter(op for op, _ in fake.calls[before:])
        total = sum(calls.values())
        print(
            f"{label}: {total} provider calls for {active} active jobs "
            f"({dict(calls)}; {total / active * 100:.1f} calls per 100 jobs) in {seconds:.2f}s"
        )

    refresh("nothing changed")
    for remote_id in remote_ids[: active // 10]:
        fake.set_status(remote_id, "succeeded")
    refresh(f"{active // 10} jobs succeeded")
    fake.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
