"""The production set-up: settings from the environment, our deploy checks, scripts/serve.

Settings are read once per process, so these start a fresh Python with the environment an
operator would set.
"""

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.test import Client

PROJECT_DIR = Path(__file__).resolve().parents[2]
FERNET_KEY = "x4rGxMdo0bJ4xTvgmYr0lUm8BrgyZCCk0yVJoO8CXo0="
SECRET = "a-long-random-production-secret-key-for-tests-0123456789-abcdefghij"

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": SECRET,
    "FINETUNING_ENCRYPTION_KEY": FERNET_KEY,
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "DJANGO_CACHE_URL": "redis://127.0.0.1:6379/0",
}


def environment(tmp_path, **overrides):
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "FINETUNING_", "OPENAI_", "SENTRY_"))
    }
    env = {
        **base,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "FINETUNING_MEDIA_ROOT": str(tmp_path / "media"),
        **PRODUCTION,
        **overrides,
    }
    return {key: value for key, value in env.items() if value is not None}


def settings_in(tmp_path, *names, **env):
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    return json.loads(run_with_settings(tmp_path, code, **env))


def run_with_settings(tmp_path, code, **env) -> str:
    """What ``code`` prints in a fresh interpreter with the project's settings and ``env``."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={
            **environment(tmp_path, **env),
            "DJANGO_SETTINGS_MODULE": "finetuning_project.settings",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_a_deployment_behind_a_tls_proxy_is_configured_from_the_environment(tmp_path):
    values = settings_in(
        tmp_path,
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "CACHES",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://api.example.com,https://admin.example.com",
        DJANGO_SECURE_HSTS_SECONDS="600",
    )

    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://api.example.com",
        "https://admin.example.com",
    ]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["CACHES"]["default"]["BACKEND"].endswith("RedisCache")


def test_production_defaults_are_safe_and_development_stays_easy(tmp_path):
    production = settings_in(
        tmp_path, "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT"
    )
    development = settings_in(
        tmp_path,
        "SESSION_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_SSL_REDIRECT",
        "LOG_FORMAT",
        DJANGO_DEBUG="1",
    )

    assert production == {
        "SESSION_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_SSL_REDIRECT": True,
    }
    assert development == {
        "SESSION_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_SSL_REDIRECT": False,
        "LOG_FORMAT": "text",
    }


def run_serve(tmp_path, **env):
    return subprocess.run(
        ["scripts/serve", "web"],
        cwd=PROJECT_DIR,
        env={
            **environment(tmp_path, **env),
            "SERVE_SKIP_INSTALL": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("missing", "check"),
    [("DJANGO_SECRET_KEY", "finetunings.E001"), ("FINETUNING_ENCRYPTION_KEY", "finetunings.E002")],
)
def test_serve_refuses_to_start_without_a_production_secret(tmp_path, missing, check):
    result = run_serve(tmp_path, **{missing: None})

    assert result.returncode == 1
    assert f"({check}) {missing} is not set" in result.stderr
    assert "refusing to start" in result.stderr


def test_serve_refuses_to_start_with_per_process_rate_limits(tmp_path):
    result = run_serve(tmp_path, DJANGO_CACHE_URL=None)

    assert result.returncode == 1
    assert "(finetunings.W001) DJANGO_CACHE_URL is not set" in result.stderr


def test_deploy_checks_refuse_a_deadline_the_web_server_would_cut_short(tmp_path):
    result = run_serve(tmp_path, WEB_TIMEOUT_SECONDS="30", FINETUNING_REQUEST_DEADLINE_SECONDS="28")

    assert result.returncode == 1
    assert "finetunings.E003" in result.stderr


# --- The admin behind the proxy ----------------------------------------------------------

PROXIED = {"HTTP_HOST": "api.example.com", "HTTP_X_FORWARDED_PROTO": "https"}


def admin_login(password):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/", **PROXIED)
    token = page.cookies["csrftoken"].value
    return client.post(
        "/admin/login/",
        {"username": "root", "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
        HTTP_ORIGIN="https://api.example.com",
        HTTP_REFERER="https://api.example.com/admin/login/",
        **PROXIED,
    )


@pytest.fixture
def proxied_production(settings, django_user_model):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    django_user_model.objects.create_superuser(username="root", password="pw-0123456789")


def test_staff_log_in_to_the_admin_behind_a_tls_proxy(proxied_production):
    response = admin_login("pw-0123456789")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"
    assert response.cookies["sessionid"]["secure"]


def test_without_the_proxy_header_setting_the_login_is_refused_as_the_issue_saw(
    proxied_production, settings, caplog
):
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.SECURE_SSL_REDIRECT = False

    response = admin_login("pw-0123456789")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Origin checking failed" in caplog.text


def test_errors_go_to_sentry_when_a_dsn_is_set(tmp_path):
    code = (
        "import django; django.setup(); import sentry_sdk; "
        "client = sentry_sdk.get_client(); "
        "print(client.is_active(), client.dsn, 'django' in client.integrations)"
    )
    printed = run_with_settings(tmp_path, code, SENTRY_DSN="http://public@127.0.0.1:9/1")

    assert printed.split() == ["True", "http://public@127.0.0.1:9/1", "True"]
