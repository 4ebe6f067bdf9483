from functools import cache, wraps

from django.conf import settings
from django.utils.module_loading import import_string

from finetunings.ops import metrics
from finetunings.providers.base import (
    Provider,
    ProviderError,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
)

# The calls of the Provider interface that reach the provider (counted in the metrics).
PROVIDER_CALLS = frozenset(
    {
        "upload_training_file",
        "create_job",
        "retrieve_job",
        "list_jobs",
        "find_job_by_metadata",
        "cancel_job",
        "list_job_events",
        "read_result_file",
        "list_job_checkpoints",
        "generate_sql",
    }
)


def _error_kind(exc: ProviderError) -> str:
    if isinstance(exc, ProviderNotConfigured):
        return "not_configured"
    if isinstance(exc, ProviderUnavailable):
        return "rate_limited" if exc.status_code == 429 else "unavailable"
    if isinstance(exc, ProviderRejected):
        return "rejected"
    return "other"


class CountedProvider:
    """A provider whose calls are counted, by operation, and whose errors by kind.

    One place for every implementation, so no provider module has to remember it.
    """

    def __init__(self, provider: Provider, name: str):
        self._provider = provider
        self._name = name

    def __getattr__(self, attribute):
        value = getattr(self._provider, attribute)
        if attribute not in PROVIDER_CALLS:
            return value

        @wraps(value)
        def counted(*args, **kwargs):
            metrics.PROVIDER_CALLS.labels(provider=self._name, operation=attribute).inc()
            try:
                return value(*args, **kwargs)
            except ProviderError as exc:
                metrics.PROVIDER_ERRORS.labels(
                    provider=self._name, operation=attribute, kind=_error_kind(exc)
                ).inc()
                raise

        return counted


@cache
def get_provider(name: str) -> Provider:
    try:
        dotted_path = settings.FINETUNING_PROVIDERS[name]
    except KeyError:
        raise ProviderRejected(f"The provider {name!r} is not supported.") from None
    return CountedProvider(import_string(dotted_path)(), name)


def reset_providers() -> None:
    """Forget built providers, so changed settings take effect (tests, reconfiguration)."""
    get_provider.cache_clear()
