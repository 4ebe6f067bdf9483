"""Worker heartbeats: a worker seen again keeps its start time; a stopping worker leaves."""

from datetime import timedelta

from finetunings import services
from finetunings.models import WorkerHeartbeat


def test_a_worker_seen_again_keeps_when_it_started(db):
    services.worker_heartbeat_record(worker_id="w1")
    first = WorkerHeartbeat.objects.get(worker_id="w1")
    a_day_ago = first.seen_at - timedelta(days=1)
    WorkerHeartbeat.objects.filter(worker_id="w1").update(seen_at=a_day_ago)

    services.worker_heartbeat_record(worker_id="w1")

    again = WorkerHeartbeat.objects.get(worker_id="w1")
    assert again.started_at == first.started_at
    assert again.seen_at > a_day_ago


def test_a_stopping_worker_removes_only_its_own_heartbeat(db):
    services.worker_heartbeat_record(worker_id="w1")
    services.worker_heartbeat_record(worker_id="w2")

    services.worker_heartbeat_remove(worker_id="w1")

    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["w2"]
