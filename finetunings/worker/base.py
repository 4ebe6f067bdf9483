"""What every part of a worker pass shares: its report, its log, the 429 pause."""

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from finetunings import services
from finetunings.providers import Provider, ProviderError

# Metadata key under which each provider job carries our job's id (see submit.submit_job).
METADATA_KEY = services.PROVIDER_METADATA_KEY

Log = Callable[[str], None]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class PassReport:
    """What one pass did, for the command's output and for tests."""

    submitted: list[str] = field(default_factory=list)
    backed_off: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    refreshed: int = 0
    claimed: int = 0  # jobs the refresh claimed (a full batch: more may be due)
    refresh_failed: list[str] = field(default_factory=list)
    events: int = 0
    rate_limited: bool = False
    provider_calls: int = 0
    waiting_reason: str | None = None
    submit_claimed: int = 0

    @property
    def busy(self) -> bool:
        """Whether a batch was full: more work may be waiting, so no pause before the next."""
        return (
            self.claimed >= settings.FINETUNING_WORKER_REFRESH_BATCH
            or self.submit_claimed >= settings.FINETUNING_WORKER_SUBMIT_BATCH
        ) and not self.rate_limited


def pause_if_rate_limited(
    exc: ProviderError, *, provider: Provider, log: Log, report: PassReport
) -> bool:
    """A 429 pauses the provider for every worker, for as long as it asked; once per pass."""
    if not exc.rate_limited:
        return False
    if not report.rate_limited:
        seconds = exc.retry_after
        if seconds is None:
            seconds = settings.FINETUNING_WORKER_RATE_LIMIT_PAUSE_SECONDS
        services.provider_pause(provider=provider.name, seconds=seconds, reason=exc.message)
        report.rate_limited = True
        log(f"provider {provider.name} paused for {seconds:g} s by every worker: {exc.message}")
    return True
