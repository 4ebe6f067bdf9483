"""The provider boundary: the only way the service talks to a fine-tuning provider.

``get_provider(name)`` returns the configured implementation of ``base.Provider`` for that
provider (settings.FINETUNING_PROVIDERS). Only ``providers/openai.py`` imports ``openai``.
"""

from finetunings.providers.base import (
    GeneratedSQL,
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderEventPage,
    ProviderJob,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
    extract_sql,
)
from finetunings.providers.registry import get_provider, reset_providers

__all__ = [
    "GeneratedSQL",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderEventPage",
    "ProviderJob",
    "ProviderNotConfigured",
    "ProviderRejected",
    "ProviderUnavailable",
    "get_provider",
    "extract_sql",
    "reset_providers",
]
