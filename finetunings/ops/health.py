"""Liveness and readiness, as plain functions the middleware serves.

Readiness answers with the name and state of each check, never an exception's text: the
route has no authentication and must not tell the world about the database or the disk.
The reasons are logged instead.
"""

import logging
import os
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

logger = logging.getLogger(__name__)

OK = "ok"
FAILED = "failed"


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return OK


def check_migrations() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return OK if not plan else "pending"


def check_storage() -> str:
    root = settings.MEDIA_ROOT
    os.makedirs(root, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=root, prefix=".readyz-", delete=True) as probe:
        probe.write(b"ok")
        probe.flush()
    return OK


def check_worker() -> str:
    from finetunings.models import WorkerHeartbeat

    cutoff = timezone.now() - timedelta(
        seconds=settings.FINETUNING_WORKER_HEARTBEAT_MAX_AGE_SECONDS
    )
    return OK if WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).exists() else "stale"


CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "storage": check_storage,
    "worker": check_worker,
}


def readiness() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        if name != "database" and results.get("database") not in (None, OK):
            results[name] = "unknown"  # nothing else can be told without the database
            continue
        try:
            results[name] = check()
        except Exception:
            logger.exception("Readiness check %s failed", name)
            results[name] = FAILED
    return results
