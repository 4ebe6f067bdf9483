"""manage.py prune and manage.py rotate_encryption_key, as an operator runs them."""

import os
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from finetunings import crypto, selectors, services
from finetunings.models import (
    DatabaseConnection,
    Finetuning,
    FinetuningEvent,
    FinetuningEventKind,
    FinetuningStatus,
    WorkerHeartbeat,
)


def age(queryset, days):
    queryset.update(created_at=timezone.now() - timedelta(days=days))


@pytest.fixture
def old_finished_job(connection, golden_records, make_finetuning):
    job = make_finetuning(
        connection,
        status=FinetuningStatus.SUCCEEDED,
        finished_at=timezone.now() - timedelta(days=100),
    )
    for index in range(3):
        FinetuningEvent.objects.create(
            finetuning=job,
            kind=FinetuningEventKind.PROVIDER_EVENT,
            message=f"Step {index}",
            provider_event_id=f"ftevent-{job.pk}-{index}",
        )
    age(FinetuningEvent.objects.filter(finetuning=job), 100)
    return job


def test_prune_deletes_provider_events_of_jobs_finished_long_ago_but_keeps_the_audit_trail(
    old_finished_job, connection, make_finetuning, capsys
):
    active = make_finetuning(connection, status=FinetuningStatus.RUNNING)
    FinetuningEvent.objects.create(
        finetuning=active, kind=FinetuningEventKind.PROVIDER_EVENT, message="still running"
    )
    age(FinetuningEvent.objects.filter(finetuning=active), 100)
    audit = set(
        FinetuningEvent.objects.filter(finetuning=old_finished_job)
        .exclude(kind=FinetuningEventKind.PROVIDER_EVENT)
        .values_list("pk", flat=True)
    )

    call_command("prune", "--days", "90")

    left = set(
        FinetuningEvent.objects.filter(finetuning=old_finished_job).values_list("pk", flat=True)
    )
    assert audit  # who created it, its status changes: kept
    assert left == audit
    assert FinetuningEvent.objects.filter(finetuning=active).count() == 2  # created + provider
    assert "Deleted 3 event(s)" in capsys.readouterr().out


def test_prune_dry_run_counts_and_changes_nothing(old_finished_job, capsys):
    before = FinetuningEvent.objects.count()

    call_command("prune", "--dry-run", "--days", "90")

    assert FinetuningEvent.objects.count() == before
    assert "Would delete 3 event(s)" in capsys.readouterr().out


def test_prune_deletes_old_webhook_records_only(finetuning):
    services.finetuning_mark_due(finetuning=finetuning, event_id="evt_old", event_type="x")
    services.finetuning_mark_due(finetuning=finetuning, event_id="evt_new", event_type="x")
    age(FinetuningEvent.objects.filter(provider_event_id="evt_old"), 8)

    call_command("prune", "--webhook-days", "7")

    assert not selectors.finetuning_webhook_seen(finetuning=finetuning, event_id="evt_old")
    assert selectors.finetuning_webhook_seen(finetuning=finetuning, event_id="evt_new")


@pytest.mark.parametrize("kind", ["training", "validation"])
def test_prune_deletes_kept_files_no_job_refers_to(finetuning, settings, capsys, kind):
    kept = default_storage.save(f"{kind}-files/kept.jsonl", ContentFile(b"{}\n"))
    Finetuning.objects.filter(pk=finetuning.pk).update(**{f"{kind}_file": kept})
    orphan = default_storage.save(f"{kind}-files/deleted-job.jsonl", ContentFile(b"{}\n"))
    just_written = default_storage.save(f"{kind}-files/being-built.jsonl", ContentFile(b"{}\n"))
    two_days_ago = time.time() - 2 * 86400
    for name in (kept, orphan):
        os.utime(default_storage.path(name), (two_days_ago, two_days_ago))

    call_command("prune")

    assert default_storage.exists(kept)
    assert not default_storage.exists(orphan)
    assert default_storage.exists(just_written)  # a worker may be about to record it
    assert orphan in capsys.readouterr().out


def test_prune_forgets_workers_gone_for_a_day(db):
    services.worker_heartbeat_record(worker_id="gone")
    services.worker_heartbeat_record(worker_id="alive")
    WorkerHeartbeat.objects.filter(pk="gone").update(seen_at=timezone.now() - timedelta(days=2))

    call_command("prune")

    assert list(WorkerHeartbeat.objects.values_list("pk", flat=True)) == ["alive"]


@pytest.fixture
def rotating_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FINETUNING_ENCRYPTION_KEYS = [old]
    crypto.reset_cache()
    yield old, new
    crypto.reset_cache()


def test_rotate_encryption_key_re_encrypts_every_secret_with_the_newest_key(
    settings, rotating_keys, make_connection, capsys
):
    old, new = rotating_keys
    first = make_connection(connection_uri="postgresql://a:pw1@db/one")
    second = make_connection(connection_uri="postgresql://b:pw2@db/two")
    settings.FINETUNING_ENCRYPTION_KEYS = [new, old]
    crypto.reset_cache()

    call_command("rotate_encryption_key")

    assert "Re-encrypted 2 secret(s)" in capsys.readouterr().out
    settings.FINETUNING_ENCRYPTION_KEYS = [new]  # the old key can now be dropped
    crypto.reset_cache()
    assert DatabaseConnection.objects.get(pk=first.pk).connection_uri == "postgresql://a:pw1@db/one"
    assert (
        DatabaseConnection.objects.get(pk=second.pk).connection_uri == "postgresql://b:pw2@db/two"
    )

    call_command("rotate_encryption_key")
    assert (
        "Re-encrypted 0 secret(s) with the newest key; 2 already used it."
        in capsys.readouterr().out
    )


def test_rotate_encryption_key_dry_run_changes_nothing(
    settings, rotating_keys, make_connection, capsys
):
    old, new = rotating_keys
    connection = make_connection()
    token = DatabaseConnection.objects.get(pk=connection.pk).connection_uri_encrypted
    settings.FINETUNING_ENCRYPTION_KEYS = [new, old]
    crypto.reset_cache()

    call_command("rotate_encryption_key", "--dry-run")

    assert "Would re-encrypt 1 secret(s)" in capsys.readouterr().out
    assert DatabaseConnection.objects.get(pk=connection.pk).connection_uri_encrypted == token
