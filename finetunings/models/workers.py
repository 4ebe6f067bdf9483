"""What the workers share through the database: who is alive, which provider to leave alone."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time each fine-tuning worker finished a pass (or started); /readyz reads it.

    Written once per pass by the worker command, deleted when the worker stops cleanly; a
    killed worker's row simply grows old.
    """

    worker_id = models.CharField(primary_key=True, max_length=100)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"


class ProviderPause(models.Model):
    """A provider asked every caller to wait (429 with Retry-After) until ``paused_until``.

    Kept in the database so that every worker process honours it, not only the one that
    was told.
    """

    provider = models.CharField(primary_key=True, max_length=30)
    paused_until = models.DateTimeField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "provider pause"

    def __str__(self) -> str:
        return f"{self.provider} paused until {self.paused_until:%Y-%m-%d %H:%M:%S}"
