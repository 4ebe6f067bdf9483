"""Our own system checks: what ``check --deploy`` must refuse beyond Django's.

scripts/serve runs ``check --deploy --fail-level WARNING``, so each of these stops a
production start with its message.
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# Seconds between the request deadline and gunicorn's kill, for the 503 to be written.
TIMEOUT_MARGIN_SECONDS = 5


@register(Tags.security, deploy=True)
def production_secrets(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    problems = []
    if not settings.SECRET_KEY_FROM_ENVIRONMENT:
        problems.append(
            Error(
                "DJANGO_SECRET_KEY is not set: each host would use its own generated key, so "
                "sessions made on one host are refused on another.",
                hint="Set DJANGO_SECRET_KEY to the same long random value on every process.",
                id="finetunings.E001",
            )
        )
    if not settings.FINETUNING_ENCRYPTION_KEYS:
        problems.append(
            Error(
                "FINETUNING_ENCRYPTION_KEY is not set: connection URIs would be encrypted with "
                "a key derived from the secret key, which other hosts may not share.",
                hint="Make one with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())' and set it on every process.",
                id="finetunings.E002",
            )
        )
    return problems


@register(Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    if settings.DEBUG or settings.CACHE_URL != "locmem":
        return []
    return [
        Warning(
            "DJANGO_CACHE_URL is not set: rate limits are counted per process, so a client "
            "gets the configured rate once per process.",
            hint="Set DJANGO_CACHE_URL=redis://host:6379/0 (shared by every web process).",
            id="finetunings.W001",
        )
    ]


@register()
def coherent_timeouts(app_configs, **kwargs):
    deadline = settings.FINETUNING_REQUEST_DEADLINE_SECONDS
    timeout = settings.WEB_TIMEOUT_SECONDS
    if deadline + TIMEOUT_MARGIN_SECONDS <= timeout:
        return []
    return [
        Error(
            f"FINETUNING_REQUEST_DEADLINE_SECONDS ({deadline:g}) must be at least "
            f"{TIMEOUT_MARGIN_SECONDS} s below WEB_TIMEOUT_SECONDS ({timeout:g}): a request "
            "waiting on the provider would be killed by the web server (an HTML 500) before "
            "it could answer with its JSON 503.",
            id="finetunings.E003",
        )
    ]
