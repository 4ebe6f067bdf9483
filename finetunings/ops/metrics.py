"""Prometheus metrics, with prometheus-client.

Two kinds, because the service runs as several processes (gunicorn workers, fine-tuning
workers):
- Counters and histograms (provider calls and errors, worker pass duration, cancel latency,
  HTTP requests) live in each process. With PROMETHEUS_MULTIPROC_DIR set (scripts/serve
  sets it, shared by the web and worker processes of one host), prometheus-client's
  multiprocess mode writes them to files there and the scrape adds them up.
- Queue depth by status and the oldest waiting job's age are read from the database at
  scrape time, so every process answers the same, whatever process served the scrape.
"""

import contextlib
import logging
import os
import socket
import time

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)


def process_identifier() -> str:
    """Names this process's metric files: host and pid, because containers of several
    hosts (each with its own pid 7) may share one PROMETHEUS_MULTIPROC_DIR volume."""
    return f"{socket.gethostname()}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)

PROVIDER_CALLS = Counter(
    "finetuning_provider_calls_total",
    "Calls made to the fine-tuning provider, by operation.",
    ["provider", "operation"],
)
PROVIDER_ERRORS = Counter(
    "finetuning_provider_errors_total",
    "Provider calls that failed, by operation and kind (unavailable, rejected, not_configured).",
    ["provider", "operation", "kind"],
)
WORKER_PASS_SECONDS = Histogram(
    "finetuning_worker_pass_seconds",
    "Duration of one worker pass.",
    ["outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
CANCEL_SECONDS = Histogram(
    "finetuning_cancel_seconds",
    "Time to answer a cancel (API or admin), by outcome.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60),
)
HTTP_REQUESTS = Counter(
    "finetuning_http_requests_total",
    "HTTP requests answered, by route (the URL pattern's name) and status code.",
    ["route", "method", "status"],
)


class QueueCollector(Collector):
    """Queue depth by status and the oldest waiting job's age, read at scrape time."""

    def collect(self):
        from finetunings.models import Finetuning, FinetuningStatus

        depth = GaugeMetricFamily(
            "finetuning_jobs", "Fine-tuning jobs, by status.", labels=["status"]
        )
        counts = dict(
            Finetuning.objects.order_by()
            .values_list("status")
            .annotate(count=Count("pk"))
            .values_list("status", "count")
        )
        for status in FinetuningStatus.values:
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        oldest = Finetuning.objects.filter(status=FinetuningStatus.QUEUED).aggregate(
            oldest=Min("created_at")
        )["oldest"]
        yield GaugeMetricFamily(
            "finetuning_oldest_queued_job_age_seconds",
            "Age of the oldest job waiting in queued (0 when none waits).",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return registry


def render() -> tuple[bytes, str]:
    """The metrics page: this host's process metrics plus the database's gauges."""
    registry = _registry()
    body = generate_latest(registry)
    queue = CollectorRegistry()
    queue.register(QueueCollector())
    try:
        body += generate_latest(queue)
    except Exception:
        # Without the database the process's own counters still tell what happened;
        # the missing queue gauges show the outage (as does /readyz).
        logger.exception("The queue metrics could not be read from the database")
    return body, CONTENT_TYPE_LATEST


@contextlib.contextmanager
def cancel_timer():
    """Observe a cancel's latency (API or admin) with its outcome, taken from its error."""
    from django.core.exceptions import ObjectDoesNotExist

    from finetunings import errors
    from finetunings.providers import ProviderRejected, ProviderUnavailable

    started = time.monotonic()
    outcome = "cancelled"
    try:
        yield
    except ObjectDoesNotExist:
        outcome = None  # no such job: a 404, not a cancel
        raise
    except errors.FinetuningNotCancellable:
        outcome = "not_cancellable"
        raise
    except errors.CancelInProgress:
        outcome = "in_progress"
        raise
    except ProviderUnavailable:
        outcome = "provider_unavailable"
        raise
    except ProviderRejected:
        outcome = "provider_error"
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        if outcome is not None:
            CANCEL_SECONDS.labels(outcome=outcome).observe(time.monotonic() - started)
