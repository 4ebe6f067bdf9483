"""What the current request or worker pass is about, for log lines and provider calls.

Context variables, so each thread (gunicorn's threads, the worker) sees its own values:
the request id, the job id, the worker id, and the request's deadline.
"""

import contextlib
import contextvars
import time

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
worker_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("worker_id", default=None)
# time.monotonic() after which nothing may wait on the provider any more; None: no limit.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def bound(var: contextvars.ContextVar, value):
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


@contextlib.contextmanager
def deadline_in(seconds: float | None):
    """Everything inside must be done within ``seconds`` (None: no limit)."""
    expires = None if seconds is None else time.monotonic() + seconds
    current = _deadline.get()
    if current is not None and (expires is None or current < expires):
        expires = current  # an inner block never extends the outer deadline
    token = _deadline.set(expires)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining_seconds() -> float | None:
    """Seconds left before the current deadline (never negative), or None without one."""
    expires = _deadline.get()
    return None if expires is None else max(0.0, expires - time.monotonic())
