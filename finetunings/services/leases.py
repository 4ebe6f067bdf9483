"""Worker leases: claiming jobs in one statement, and giving them back.

The worker claims a job with a lease, does its network calls with no transaction open,
and writes each result back with a conditional update: a write whose condition no longer
holds (the job was cancelled, another worker took over) changes nothing and says so.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from finetunings.models import Finetuning, ProviderPause

_CLAIM_SQL = """
    UPDATE {table} SET lease_owner = %s, lease_until = %s{extra_set}
    WHERE id IN (
        SELECT id FROM {table}
        WHERE {where}
          AND (lease_until IS NULL OR lease_until < %s)
          AND NOT EXISTS (
              SELECT 1 FROM {pauses}
              WHERE {pauses}.provider = {table}.model_provider AND paused_until > %s
          )
        ORDER BY {order_by}
        LIMIT %s{skip_locked}
    )
    RETURNING {returning}
"""


def claim(
    *,
    worker_id: str,
    where: str,
    where_params: list,
    order_by: str,
    limit: int,
    returning: str = "*",
    returning_params: list | tuple = (),
    extra_set: str = "",
    extra_set_params: list | tuple = (),
) -> list[Finetuning]:
    """Lease up to ``limit`` rows matching ``where`` to ``worker_id``, in one statement.

    ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: several
    workers claim side by side on PostgreSQL, each skipping the rows another is claiming,
    and the claim is atomic on its own (no transaction around it, and one statement even
    when nothing is due). Nothing is claimed for a provider that asked everyone to wait.
    """
    now = timezone.now()
    table, pauses = Finetuning._meta.db_table, ProviderPause._meta.db_table
    adapt = db_connection.ops.adapt_datetimefield_value
    can_skip_locked = db_connection.features.has_select_for_update_skip_locked
    skip_locked = " FOR UPDATE SKIP LOCKED" if can_skip_locked else ""
    sql = _CLAIM_SQL.format(
        table=table,
        pauses=pauses,
        extra_set=extra_set,
        where=where,
        order_by=order_by,
        skip_locked=skip_locked,
        returning=returning,
    )
    params = [
        worker_id,
        adapt(now + timedelta(seconds=settings.FINETUNING_WORKER_LEASE_SECONDS)),
        *extra_set_params,
        *where_params,
        adapt(now),
        adapt(now),
        limit,
        *returning_params,
    ]
    return list(Finetuning.objects.raw(sql, params))


def sql_in(values) -> tuple[str, list]:
    values = sorted(values)
    return ", ".join(["%s"] * len(values)), values


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
