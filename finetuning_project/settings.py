"""Settings, read from the environment in this one place.

Every variable the service understands is listed in README.md ("Configuration") and in
spec/api.md. Development defaults are safe to run on a laptop; production sets
DJANGO_SECRET_KEY, DATABASE_URL, DJANGO_ALLOWED_HOSTS and FINETUNING_ENCRYPTION_KEY.
"""

import os
import secrets
import time
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else float(default)


DEBUG = env_bool("DJANGO_DEBUG", False)


def development_secret_key(path: Path) -> str:
    """A random key made once per checkout and kept in var/ (git-ignored).

    Kept, not made per process, because the web server and the worker must agree on it:
    sessions, and in development the encryption key of connection URIs, derive from it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)
        raise ImproperlyConfigured(
            f"{path} is empty; delete it or set DJANGO_SECRET_KEY."
        ) from None
    key = "django-insecure-" + secrets.token_urlsafe(50)
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


# Whether the secret came from the environment: without it, a production process must not
# start (finetunings.checks), since every host would sign and encrypt with its own key.
SECRET_KEY_FROM_ENVIRONMENT = bool(os.environ.get("DJANGO_SECRET_KEY"))
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or development_secret_key(
    BASE_DIR / "var" / "development-secret-key"
)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "finetunings",
]

MIDDLEWARE = [
    # First: probes and the metrics scrape are answered before host validation and the
    # HTTPS redirect (load balancers probe by IP, over plain HTTP).
    "finetunings.ops.middleware.OpsEndpointsMiddleware",
    # Request id, job id and a deadline for provider calls; HTTP metrics by route and status.
    "finetunings.ops.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the API docs' static files in production (after collectstatic).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "finetuning_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "finetuning_project.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes; the timeout
    # turns brief write contention into a wait instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed but not "manifest" storage: pages render even before collectstatic ran.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("FINETUNING_MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"

LOGIN_URL = "admin:login"

# --- Behind a TLS-terminating proxy -----------------------------------------------------
# Safe defaults: in production (DEBUG off) cookies are HTTPS-only, plain HTTP is redirected
# and HSTS is sent; each can be turned off from the environment for a setup without TLS.
# The proxy header is trusted only when named, since a client could otherwise forge it.
_proxy_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header:
    # "X-Forwarded-Proto" or "X-Forwarded-Proto=https".
    _name, _, _value = _proxy_header.partition("=")
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _name.strip().upper().replace("-", "_"),
        _value.strip() or "https",
    )
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Redirecting is only safe when the proxy's header says which requests were HTTPS (else
# every proxied request looks like plain HTTP and loops); without it, check --deploy warns
# and scripts/serve refuses to start until the redirect is set one way or the other.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG and bool(_proxy_header))
# Probes and scrapes come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Subdomains and the preload list are decisions for the whole domain, not this service:
# opt-ins (DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS, ..._PRELOAD), not deploy-check failures.
SILENCED_SYSTEM_CHECKS = env_list(
    "DJANGO_SILENCED_SYSTEM_CHECKS", ["security.W005", "security.W021"]
)

# --- Cache (shared by every process: the API's rate limits count in it) ----------------
# "redis://host:6379/0" for production; "locmem" counts per process (development, tests).
CACHE_URL = os.environ.get("DJANGO_CACHE_URL", "").strip() or "locmem"
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # A cache outage must not hang requests: rate limits fail open (see throttling).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif CACHE_URL == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(
        f"DJANGO_CACHE_URL must be 'locmem' or a redis:// URL, not {CACHE_URL!r}."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The API-key class comes first so that DRF answers 401 with its
        # WWW-Authenticate challenge when no credentials are sent.
        "finetunings.api.authentication.APIKeyAuthentication",
        "finetunings.api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["finetunings.api.permissions.APIKeyOrModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "finetunings.api.pagination.CreatedAtCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "finetunings.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "finetunings.api.renderers.JSONRenderer",
        "finetunings.api.renderers.GuidedBrowsableAPIRenderer",
    ],
    # JSON in, JSON out: form bodies would silently drop the fields they cannot express.
    "DEFAULT_PARSER_CLASSES": ["finetunings.api.parsers.JSONParser"],
    "DATETIME_FORMAT": "iso-8601",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "finetunings.api.negotiation.ContentNegotiation",
    # Per API key and per staff user, counted in the shared cache; 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "finetunings.api.throttling.APIKeyRateThrottle",
        "finetunings.api.throttling.StaffRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("FINETUNING_THROTTLE_API_KEY_RATE") or "1200/min",
        "staff": os.environ.get("FINETUNING_THROTTLE_STAFF_RATE") or "600/min",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fine-tuning jobs API",
    "DESCRIPTION": (
        "Keeps the fine-tuning jobs of a natural-language-to-SQL product: database "
        "connections, golden records, and fine-tuning jobs that can be followed and "
        "cancelled. Authenticate with `Authorization: Bearer <api key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["finetunings.api.schema.document_paths_without_trailing_slash"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "finetunings.api.schema.document_enforced_limits",
        "finetunings.api.schema.document_rate_limits",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The Authorize dialog asks only for what a user can give (an API key); a staff session
    # works in Swagger UI anyway, as its cookie goes with every request.
    "AUTHENTICATION_WHITELIST": ["finetunings.api.authentication.APIKeyAuthentication"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "FinetuningStatusEnum": "finetunings.models.FinetuningStatus.choices",
        "EvaluationStatusEnum": "finetunings.models.EvaluationStatus.choices",
    },
    # Swagger UI's assets are served from this project, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Bulk golden-record uploads can be large; anything bigger is refused with a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# One JSON object per line in production (time, level, logger, message, request id, job
# id, worker id), a readable line in development; web and worker alike.
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "").strip() or ("text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "finetunings.ops.logging.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"},
        "json": {"()": "finetunings.ops.logging.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # Django's own request logger would repeat every 4xx; the API answers them itself.
        "django.request": {"level": "ERROR"},
    },
}

# Error tracking, only when a DSN is given.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "").strip() or None
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT") or None,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0),
    )

# --- Operations: health, metrics, timeouts ----------------------------------------------

# manage.py prune: provider/worker events of jobs finished longer ago than this are deleted;
# webhook records (which only stop a redelivery from being processed twice) sooner.
FINETUNING_RETENTION_DAYS = env_int("FINETUNING_RETENTION_DAYS", 90)
FINETUNING_WEBHOOK_RETENTION_DAYS = env_int("FINETUNING_WEBHOOK_RETENTION_DAYS", 7)

# /readyz is red unless some worker wrote a heartbeat within this many seconds.
FINETUNING_WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_float(
    "FINETUNING_WORKER_HEARTBEAT_MAX_AGE_SECONDS", 120
)
# Bearer token for GET /metrics; without it the route answers 404.
FINETUNING_METRICS_TOKEN = os.environ.get("FINETUNING_METRICS_TOKEN", "").strip() or None
# gunicorn kills a request after WEB_TIMEOUT_SECONDS (gunicorn.conf.py reads the same
# variable). Every request gives up waiting on the provider REQUEST_DEADLINE_SECONDS after
# it started, with the documented JSON 503, so that the kill never happens; a system check
# keeps the deadline below the timeout.
WEB_TIMEOUT_SECONDS = env_float("WEB_TIMEOUT_SECONDS", 60)
FINETUNING_REQUEST_DEADLINE_SECONDS = env_float("FINETUNING_REQUEST_DEADLINE_SECONDS", 40)

# --- The fine-tuning domain -------------------------------------------------------------

# Fernet keys (comma-separated, newest first, so an old key can still decrypt while rotating).
FINETUNING_ENCRYPTION_KEYS = env_list("FINETUNING_ENCRYPTION_KEY", [])

OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY") or None
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL") or None
OPENAI_WEBHOOK_SECRET = os.environ.get("OPENAI_WEBHOOK_SECRET") or None
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 30)

# Provider name -> dotted path of the class that implements finetunings.providers.base.Provider.
FINETUNING_PROVIDERS = {
    "openai": os.environ.get(
        "FINETUNING_OPENAI_PROVIDER_CLASS", "finetunings.providers.openai.OpenAIProvider"
    ),
}

# Which base models may be fine-tuned, per provider (comma-separated in the environment).
FINETUNING_ALLOWED_MODELS = {
    "openai": env_list(
        "FINETUNING_OPENAI_MODELS",
        [
            "gpt-3.5-turbo",
            "gpt-3.5-turbo-0125",
            "gpt-3.5-turbo-1106",
            "gpt-4",
            "gpt-4-0613",
            "gpt-4o-mini-2024-07-18",
            "gpt-4o-2024-08-06",
            "gpt-4.1-2025-04-14",
            "gpt-4.1-mini-2025-04-14",
            "gpt-4.1-nano-2025-04-14",
        ],
    ),
}
FINETUNING_DEFAULT_PROVIDER = "openai"
FINETUNING_DEFAULT_MODEL = os.environ.get("FINETUNING_DEFAULT_MODEL", "gpt-4o-mini-2024-07-18")

# How long one process may hold the right to cancel a job at the provider before another
# process may take over (it only matters if that process died mid-call).
FINETUNING_CANCEL_LEASE_SECONDS = env_int("FINETUNING_CANCEL_LEASE_SECONDS", 60)
# How long a request that lost the race to cancel waits for the winner to finish before it
# answers 503 with Retry-After: well inside any web server's timeout, so a client that
# retries gets a JSON answer, never the server's own error page. It never outlasts
# the request's own deadline (FINETUNING_REQUEST_DEADLINE_SECONDS) either.
FINETUNING_CANCEL_WAIT_SECONDS = env_float("FINETUNING_CANCEL_WAIT_SECONDS", 8)

# --- Provider and worker ----------------------------------------------------------------

# Retries the SDK makes on its own for idempotent calls (never for job creation, which
# costs money: see finetunings.providers.openai).
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)

# Longest training example (in tokens) each base model accepts; the first matching prefix
# wins. Examples above the limit are refused before anything is uploaded.
FINETUNING_MODEL_TOKEN_LIMITS = {
    "gpt-4.1": 65_536,
    "gpt-4o-mini": 65_536,
    "gpt-4o": 65_536,
    "gpt-3.5-turbo-0125": 16_385,
    "gpt-3.5-turbo-1106": 16_385,
    "gpt-3.5-turbo": 4_096,
    "gpt-4": 8_192,
}
FINETUNING_DEFAULT_TOKEN_LIMIT = 65_536
# "auto": tiktoken when its encoding file is already cached locally, otherwise an estimate
# (tiktoken would download the file, and a worker must never hang on that);
# "tiktoken": always tiktoken (may download); "estimate": never tiktoken.
FINETUNING_TOKEN_COUNTER = os.environ.get("FINETUNING_TOKEN_COUNTER", "auto")
# Epochs assumed for the billed-tokens estimate when n_epochs is "auto".
FINETUNING_AUTO_EPOCHS_ESTIMATE = 3

# Worker: how long a claim lasts, how many jobs one pass takes on, how it backs off.
FINETUNING_WORKER_LEASE_SECONDS = env_int("FINETUNING_WORKER_LEASE_SECONDS", 300)
FINETUNING_WORKER_SUBMIT_BATCH = env_int("FINETUNING_WORKER_SUBMIT_BATCH", 10)
FINETUNING_WORKER_POLL_SECONDS = env_float("FINETUNING_WORKER_POLL_SECONDS", 30)
# While every batch comes full (a backlog), the worker looks for webhook deliveries to make
# at most this often; a worker that has caught up looks after every pass.
FINETUNING_WORKER_WEBHOOK_CHECK_SECONDS = env_float("FINETUNING_WORKER_WEBHOOK_CHECK_SECONDS", 10)
# The same for evaluations: while every batch comes full and none was found last time, the
# worker looks for one at most this often (one it is working on goes on every pass).
FINETUNING_WORKER_EVALUATION_CHECK_SECONDS = env_float(
    "FINETUNING_WORKER_EVALUATION_CHECK_SECONDS", 10
)
FINETUNING_WORKER_SLEEP_SECONDS = env_float("FINETUNING_WORKER_SLEEP_SECONDS", 10)
FINETUNING_WORKER_BACKOFF_SECONDS = env_float("FINETUNING_WORKER_BACKOFF_SECONDS", 15)
FINETUNING_WORKER_BACKOFF_MAX_SECONDS = env_float("FINETUNING_WORKER_BACKOFF_MAX_SECONDS", 900)
# Jobs per provider list call when refreshing (OpenAI's maximum page size is 100).
FINETUNING_WORKER_LIST_PAGE_SIZE = 100
# Stop paging the provider's job list after this many pages; the rest are retrieved one by one.
FINETUNING_WORKER_LIST_MAX_PAGES = env_int("FINETUNING_WORKER_LIST_MAX_PAGES", 4)
# Due jobs one worker claims and refreshes per pass (a pass also submits, so a long refresh
# delays a new job's submission by one batch at most).
FINETUNING_WORKER_REFRESH_BATCH = env_int("FINETUNING_WORKER_REFRESH_BATCH", 200)
# Provider calls one worker has in flight at once while refreshing a batch.
FINETUNING_WORKER_PROVIDER_CONCURRENCY = env_int("FINETUNING_WORKER_PROVIDER_CONCURRENCY", 4)
# Event pages (100 events each) read per job per poll, and per pass over all its jobs.
FINETUNING_WORKER_EVENT_PAGES_PER_JOB = env_int("FINETUNING_WORKER_EVENT_PAGES_PER_JOB", 5)
FINETUNING_WORKER_EVENT_PAGES_PER_PASS = env_int("FINETUNING_WORKER_EVENT_PAGES_PER_PASS", 400)
# Pause after a 429 that says nothing about how long to wait.
FINETUNING_WORKER_RATE_LIMIT_PAUSE_SECONDS = env_float(
    "FINETUNING_WORKER_RATE_LIMIT_PAUSE_SECONDS", 20
)

# --- Evaluations (generated SQL scored against golden records) ---------------------------

# Model calls one evaluation has in flight at once.
FINETUNING_EVALUATION_CONCURRENCY = env_int("FINETUNING_EVALUATION_CONCURRENCY", 4)
# Token cap of one answer: a query, not an essay (a runaway answer costs money).
FINETUNING_EVALUATION_MAX_TOKENS = env_int("FINETUNING_EVALUATION_MAX_TOKENS", 512)
# Executing gold and predicted SQL on a user's database: per-statement timeout and the most
# rows read back (more is scored as an execution error, not compared).
FINETUNING_EVALUATION_STATEMENT_TIMEOUT_SECONDS = env_float(
    "FINETUNING_EVALUATION_STATEMENT_TIMEOUT_SECONDS", 5
)
FINETUNING_EVALUATION_ROW_CAP = env_int("FINETUNING_EVALUATION_ROW_CAP", 10000)
FINETUNING_EVALUATION_CONNECT_TIMEOUT_SECONDS = env_int(
    "FINETUNING_EVALUATION_CONNECT_TIMEOUT_SECONDS", 5
)
# Model calls one worker pass makes for evaluations at most; the next pass resumes, so a
# long evaluation never holds up the submission and refresh of jobs.
FINETUNING_EVALUATION_CALLS_PER_PASS = int(
    os.environ.get("FINETUNING_EVALUATION_CALLS_PER_PASS", "100")
)

# --- Idempotency keys -------------------------------------------------------------------

# How long a key and its first answer are kept (retries within this time are safe).
FINETUNING_IDEMPOTENCY_TTL_SECONDS = env_int("FINETUNING_IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
# How long a retry waits for the first request with its key to finish before a 409.
FINETUNING_IDEMPOTENCY_WAIT_SECONDS = env_float("FINETUNING_IDEMPOTENCY_WAIT_SECONDS", 10)
# After this, a key whose request died without answering may be claimed again. Longer than
# the slowest request (a cancel waits up to FINETUNING_CANCEL_WAIT_SECONDS on the provider).
FINETUNING_IDEMPOTENCY_LEASE_SECONDS = 120

# --- Outgoing notifications (webhook endpoints) ------------------------------------------

# Endpoints on private, loopback or link-local addresses are refused unless this is set
# (development, tests, or receivers that really live on the private network).
FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool(
    "FINETUNING_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False
)
FINETUNING_WEBHOOK_TIMEOUT_SECONDS = env_float("FINETUNING_WEBHOOK_TIMEOUT_SECONDS", 10)
# Attempts per delivery, and the pause after the first failure (doubling, up to the maximum).
FINETUNING_WEBHOOK_MAX_ATTEMPTS = env_int("FINETUNING_WEBHOOK_MAX_ATTEMPTS", 8)
FINETUNING_WEBHOOK_BACKOFF_SECONDS = env_float("FINETUNING_WEBHOOK_BACKOFF_SECONDS", 30)
FINETUNING_WEBHOOK_BACKOFF_MAX_SECONDS = env_float("FINETUNING_WEBHOOK_BACKOFF_MAX_SECONDS", 21600)
# Deliveries one worker pass sends at most.
FINETUNING_WEBHOOK_BATCH = 50

# --- Sandbox provider -------------------------------------------------------------------

# base_llm.model_provider "sandbox" plays a job's whole life inside the service (no key, no
# cost, no model): for first steps. On in development (DJANGO_DEBUG), off in production
# unless turned on.
FINETUNING_SANDBOX_ENABLED = env_bool("FINETUNING_SANDBOX_ENABLED", DEBUG)
# How long each simulated step (validation, each training step) takes.
FINETUNING_SANDBOX_STEP_SECONDS = env_float("FINETUNING_SANDBOX_STEP_SECONDS", 3)
if FINETUNING_SANDBOX_ENABLED:
    FINETUNING_PROVIDERS["sandbox"] = "finetunings.providers.sandbox.SandboxProvider"
    # The sandbox pretends to fine-tune the same base models as OpenAI.
    FINETUNING_ALLOWED_MODELS["sandbox"] = FINETUNING_ALLOWED_MODELS["openai"]
