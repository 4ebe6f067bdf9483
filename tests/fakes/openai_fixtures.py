"""Fixtures that point the real OpenAI provider (and SDK) at the fake OpenAI server."""

import pytest

from finetunings.providers import get_provider, reset_providers
from tests.fakes.openai_server import FakeOpenAI

# Shorter than the fake's slow answers, so a "slow" call is a real client timeout; long
# enough that an ordinary answer on a loaded 2-CPU machine never times out (at 0.5 s one
# did now and then, and a test counting statements saw the failure's writes).
TEST_TIMEOUT_SECONDS = 2.0
SLOWER_THAN_TIMEOUT = 4.0


@pytest.fixture
def fake_openai():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def openai_provider(settings, fake_openai, tmp_path):
    """The real OpenAIProvider, talking to the fake server; returns the fake."""
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_TIMEOUT_SECONDS = TEST_TIMEOUT_SECONDS
    settings.OPENAI_MAX_RETRIES = 0
    settings.FINETUNING_PROVIDERS = {"openai": "finetunings.providers.openai.OpenAIProvider"}
    settings.MEDIA_ROOT = tmp_path / "media"
    reset_providers()
    yield fake_openai
    reset_providers()


@pytest.fixture
def real_provider(openai_provider):
    return get_provider("openai")


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to resolve a host other than loopback (tiktoken downloads, ...)."""
    import socket

    resolve = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1", None):
            raise OSError(f"Tests must not use the network (tried to resolve {host!r}).")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
