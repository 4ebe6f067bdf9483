"""Worker heartbeats: each worker says it is alive once per pass (``/readyz`` reads them)."""

from django.utils import timezone

from finetunings.models import WorkerHeartbeat


def worker_heartbeat_record(*, worker_id: str) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": now},
        create_defaults={"seen_at": now, "started_at": now},
    )


def worker_heartbeat_remove(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
