from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from finetunings.providers.base import Provider, ProviderRejected


@cache
def get_provider(name: str) -> Provider:
    try:
        dotted_path = settings.FINETUNING_PROVIDERS[name]
    except KeyError:
        raise ProviderRejected(f"The provider {name!r} is not supported.") from None
    return import_string(dotted_path)()


def reset_providers() -> None:
    """Forget built providers, so changed settings take effect (tests, reconfiguration)."""
    get_provider.cache_clear()
