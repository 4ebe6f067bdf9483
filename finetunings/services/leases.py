"""Worker leases: claiming jobs in one statement, and giving them back.

The worker claims a job with a lease, does its network calls with no transaction open,
and writes each result back with a conditional update: a write whose condition no longer
holds (the job was cancelled, another worker took over) changes nothing and says so.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from finetunings.models import Finetuning, ProviderPause


def claim(
    *,
    worker_id: str,
    candidates: QuerySet,
    limit: int,
    returning: str = "*",
    returning_params: list | tuple = (),
    extra_set: str = "",
    extra_set_params: list | tuple = (),
) -> list[Finetuning]:
    """Lease up to ``limit`` of the ordered ``candidates`` to ``worker_id``, in one statement.

    ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: several
    workers claim side by side on PostgreSQL, each skipping the rows another is claiming,
    and the claim is atomic on its own (no transaction around it, and one statement even
    when nothing is due). Only free leases are taken, and nothing is claimed for a provider
    that asked everyone to wait. The jobs come back in no particular order (RETURNING keeps
    none on PostgreSQL): callers sort them.
    """
    now = timezone.now()
    paused = ProviderPause.objects.filter(provider=OuterRef("model_provider"), paused_until__gt=now)
    chosen = candidates.lease_free(now).filter(~Exists(paused)).values("id")[:limit]
    chosen_sql, chosen_params = chosen.query.sql_with_params()
    can_skip_locked = db_connection.features.has_select_for_update_skip_locked
    skip_locked = " FOR UPDATE SKIP LOCKED" if can_skip_locked else ""
    sql = (
        f"UPDATE {Finetuning._meta.db_table} SET lease_owner = %s, lease_until = %s{extra_set} "
        f"WHERE id IN ({chosen_sql}{skip_locked}) RETURNING {returning}"
    )
    lease_until = now + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)
    params = [
        worker_id,
        db_connection.ops.adapt_datetimefield_value(lease_until),
        *extra_set_params,
        *chosen_params,
        *returning_params,
    ]
    return list(Finetuning.objects.raw(sql, params))


def finetuning_release(*, finetuning_ids: list[str], worker_id: str) -> None:
    """Give back jobs this worker claimed but did not get to (stopping, provider paused)."""
    if finetuning_ids:
        Finetuning.objects.filter(pk__in=finetuning_ids, lease_owner=worker_id).update(
            lease_owner=None, lease_until=None
        )


def finetuning_record_polled(*, finetuning_ids: list[str], worker_id: str | None = None) -> None:
    """Record a batch's poll and give its leases back: one statement for the whole batch."""
    if not finetuning_ids:
        return
    rows = Finetuning.objects.filter(pk__in=finetuning_ids)
    if worker_id is None:
        rows.update(last_polled_at=timezone.now())
        return
    rows.filter(lease_owner=worker_id).update(
        last_polled_at=timezone.now(), lease_owner=None, lease_until=None
    )
