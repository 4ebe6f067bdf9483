"""Log records with their context, as one JSON object per line (or plain text in development)."""

import datetime
import json
import logging

from finetunings.ops import context

_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "job_id",
    "worker_id",
    "context",
}


class ContextFilter(logging.Filter):
    """Adds request_id, job_id and worker_id to every record (from the context variables)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("request_id", "job_id", "worker_id"):
            if getattr(record, name, None) is None:
                setattr(record, name, getattr(context, name).get())
        # For the text format: " [request=... job=... worker=...]", or nothing.
        parts = [
            f"{label}={value}"
            for label, value in (
                ("request", record.request_id),
                ("job", record.job_id),
                ("worker", record.worker_id),
            )
            if value
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "job_id", "worker_id"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        # Anything passed with extra={...} that JSON can hold.
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
