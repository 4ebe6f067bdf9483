"""gunicorn's configuration, read by scripts/serve (``gunicorn -c gunicorn.conf.py``).

Timeouts fit together: gunicorn kills a request after WEB_TIMEOUT_SECONDS (60); every
request stops waiting on the provider FINETUNING_REQUEST_DEADLINE_SECONDS (40) after it
started and answers the documented JSON 503 first (a system check keeps the two apart).
"""

import os
import socket
from pathlib import Path

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(float(os.environ.get("WEB_TIMEOUT_SECONDS", "60")))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT_SECONDS", "30"))
keepalive = 5
# Recycle workers now and then, so a slow leak never grows for ever.
max_requests = 2000
max_requests_jitter = 200
# Only the proxy's own address may say a request came over HTTPS (FORWARDED_ALLOW_IPS).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# gunicorn's control socket (for gunicornc) defaults to one path per user, which several
# instances on one host would fight over: off unless a path is given.
if os.environ.get("WEB_CONTROL_SOCKET"):
    control_socket = os.environ["WEB_CONTROL_SOCKET"]
else:
    control_socket_disable = True
errorlog = "-"
accesslog = "-" if os.environ.get("WEB_ACCESS_LOG", "") in ("1", "true", "yes") else None
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"  # the heartbeat file of each worker, off a possibly slow disk


def _multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    # prometheus-client's multiprocess files of this host's processes that are gone (an
    # earlier run) are removed; those of running processes (fine-tuning workers) and of
    # other hosts sharing the folder are kept. Files are named <kind>_<host>-<pid>.db
    # (finetunings.ops.metrics.process_identifier). Only counters and histograms are used,
    # so a gunicorn worker that exits needs no clean-up: its totals stay in the sums.
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f"{socket.gethostname()}-"
    for path in directory.glob("*.db"):
        if f"_{prefix}" not in path.stem:
            continue  # another host's
        pid = path.stem.rsplit(f"_{prefix}", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


# gunicorn's own lines (start, worker timeouts, the access log when on) in the same JSON
# as the application's, unless the text format is asked for (DJANGO_LOG_FORMAT=text).
if os.environ.get("DJANGO_LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "finetunings.ops.logging.JSONFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
