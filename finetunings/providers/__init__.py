"""The provider boundary: the only way the service talks to a fine-tuning provider.

``get_provider(name)`` returns the configured implementation of ``base.Provider`` for that
provider (settings.FINETUNING_PROVIDERS). Only ``providers/openai.py`` imports ``openai``.
"""

from finetunings.providers.base import (
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderEventPage,
    ProviderJob,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from finetunings.providers.registry import get_provider, reset_providers

__all__ = [
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderEventPage",
    "ProviderJob",
    "ProviderNotConfigured",
    "ProviderRejected",
    "ProviderUnavailable",
    "get_provider",
    "reset_providers",
]
