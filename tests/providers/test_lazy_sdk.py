"""The web processes never load the OpenAI SDK unless a request talks to the provider."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Loads the WSGI application and its whole URL configuration (every view, serializer and
# the webhook endpoint), as a gunicorn worker does before its first request.
LOAD_WEB_APP = """
import sys
import finetuning_project.wsgi
from django.urls import get_resolver
get_resolver().url_patterns
print("openai" in sys.modules)
"""

USE_PROVIDER = """
import sys
import django
django.setup()
from finetunings.providers.openai import OpenAIProvider
OpenAIProvider()
print("openai" in sys.modules)
"""


def _run(code: str, **extra_env) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "finetuning_project.settings",
        "DJANGO_LOG_LEVEL": "ERROR",
        **extra_env,
    }
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_loading_the_web_application_does_not_import_the_openai_sdk():
    assert _run(LOAD_WEB_APP) == "False"


def test_the_sdk_is_imported_when_a_provider_client_is_made():
    assert _run(USE_PROVIDER, OPENAI_API_KEY="sk-test") == "True"
