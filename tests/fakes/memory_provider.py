"""An in-memory implementation of the provider interface, for service and API tests.

It keeps jobs in a dict and records every call, with switches to fail or slow down. The
wire-level fake (which drives the real ``openai`` SDK) is for the provider's own tests;
this one tests what the service does with each answer the interface can give.
"""

import itertools
import threading
import time

from finetunings.providers import (
    ProviderEvent,
    ProviderEventPage,
    ProviderJob,
    ProviderRejected,
    ProviderUnavailable,
)

_ids = itertools.count(1)

_current = None


def current():
    """Factory named in settings.FINETUNING_PROVIDERS by the test fixture."""
    return _current


def install(provider) -> None:
    global _current
    _current = provider


class InMemoryProvider:
    name = "openai"

    def __init__(self):
        self.jobs: dict[str, ProviderJob] = {}
        self.files: dict[str, bytes] = {}
        self.events: dict[str, list[ProviderEvent]] = {}
        self.checkpoints: dict[str, list] = {}
        self.calls: list[tuple[str, str | None]] = []
        self.fail_next: dict[str, Exception] = {}
        self.fail_always: dict[str, Exception] = {}
        self.delay: dict[str, float] = {}
        self._lock = threading.Lock()

    # --- switches --------------------------------------------------------------------
    def unreachable(self, operation: str) -> None:
        self.fail_always[operation] = ProviderUnavailable(
            "Connection error: the provider could not be reached."
        )

    def add_job(self, status: str = "running", **fields) -> ProviderJob:
        job = ProviderJob(id=f"ftjob-{next(_ids):06d}", status=status, **fields)
        self.jobs[job.id] = job
        return job

    def set_status(self, job_id: str, status: str, **fields) -> None:
        old = self.jobs[job_id]
        self.jobs[job_id] = ProviderJob(**{**old.__dict__, "status": status, **fields})

    def calls_to(self, operation: str) -> list[str | None]:
        return [arg for op, arg in self.calls if op == operation]

    def _enter(self, operation: str, arg: str | None) -> None:
        with self._lock:
            self.calls.append((operation, arg))
            failure = self.fail_next.pop(operation, None) or self.fail_always.get(operation)
        if self.delay.get(operation):
            time.sleep(self.delay[operation])
        if failure is not None:
            raise failure

    # --- the interface ------------------------------------------------------------------
    def upload_training_file(self, *, filename, file):
        self._enter("upload_training_file", filename)
        file_id = f"file-{next(_ids):06d}"
        self.files[file_id] = file.read()
        return file_id

    def create_job(
        self, *, training_file_id, model, hyperparameters, suffix, metadata, validation_file_id=None
    ):
        self._enter("create_job", training_file_id)
        return self.add_job(
            status="validating_files",
            model=model,
            training_file=training_file_id,
            validation_file=validation_file_id,
            metadata=metadata,
        )

    def retrieve_job(self, job_id):
        self._enter("retrieve_job", job_id)
        if job_id not in self.jobs:
            raise ProviderRejected(f"No fine-tuning job {job_id}.", status_code=404)
        return self.jobs[job_id]

    def list_jobs(self, *, after=None, limit=100):
        self._enter("list_jobs", after)
        ids = sorted(self.jobs, reverse=True)
        if after is not None:
            ids = [i for i in ids if i < after]
        return [self.jobs[i] for i in ids[:limit]]

    def find_job_by_metadata(self, *, key, value):
        self._enter("find_job_by_metadata", value)
        return next((j for j in self.jobs.values() if (j.metadata or {}).get(key) == value), None)

    def cancel_job(self, job_id):
        self._enter("cancel_job", job_id)
        job = self.jobs.get(job_id)
        if job is None:
            raise ProviderRejected(f"No fine-tuning job {job_id}.", status_code=404)
        if job.status in {"succeeded", "failed", "cancelled"}:
            raise ProviderRejected(f"Job {job_id} has already {job.status}.", status_code=400)
        self.set_status(job_id, "cancelled")
        return self.jobs[job_id]

    def list_job_events(self, job_id, *, after=None, limit=100):
        """Newest first, ``after`` pages towards older events, as OpenAI does."""
        self._enter("list_job_events", job_id)
        events = list(self.events.get(job_id, []))
        if after is not None:
            ids = [event.id for event in events]
            events = events[ids.index(after) + 1 :] if after in ids else []
        return ProviderEventPage(events=events[:limit], has_more=len(events) > limit)

    def list_job_checkpoints(self, job_id):
        self._enter("list_job_checkpoints", job_id)
        return list(self.checkpoints.get(job_id, []))
