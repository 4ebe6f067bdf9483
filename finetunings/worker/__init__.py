"""One pass of the worker, as plain functions: without it a job never leaves ``queued``.

``run_once`` does three things, each safe to run in several processes at once and to kill
at any moment:

1. Submit: claim waiting jobs with a lease, build/check/keep the training file, upload it
   and create the provider job. No database lock or transaction is held during a network
   call; every result is written back with a conditional update that says whether it won.
   Creating a provider job costs money: it is never retried blindly. An attempt that may
   have created one already (a lost answer, a killed worker) looks it up by the job's id
   in the provider metadata first.
2. Refresh: claim one batch of due active jobs with a lease (so any number of workers
   share the refresh), cover it with a list call or two (100 jobs per page), retrieve what
   the list missed, read the new events of running jobs, and write only what changed.
   One job's failure stops that job only; a 429 pauses the provider for every worker.
3. Clean up: a provider job created for a job that was cancelled meanwhile is cancelled at
   the provider, so no paid job is left running.
4. Evaluate: work on one evaluation for at most one pass's budget of model calls
   (``evaluations``); the next pass, of any worker, resumes it.

A pass is short (one submission batch, one refresh batch), so submitting and following
interleave, and ``stop`` (SIGTERM) is honoured between jobs, with unused leases given back.

The parts: ``loop`` (``run_once``), ``submit``, ``refresh`` (with ``provider_events``:
reading a job's events page by page), ``cleanup`` and ``evaluations``. Reads come from
``selectors``, every write goes through ``services``.
"""

from finetunings.worker.base import METADATA_KEY, Log, PassReport, new_worker_id
from finetunings.worker.cleanup import stop_late_provider_job, stop_orphaned_provider_jobs
from finetunings.worker.loop import run_once
from finetunings.worker.provider_events import EVENT_GAP_ROOM, EVENT_PAGE_SIZE, fetch_new_events
from finetunings.worker.refresh import refresh_active_jobs
from finetunings.worker.submit import UNEXPECTED_ERROR_MESSAGE, submit_job, submit_waiting_jobs

__all__ = [
    "EVENT_GAP_ROOM",
    "EVENT_PAGE_SIZE",
    "METADATA_KEY",
    "UNEXPECTED_ERROR_MESSAGE",
    "Log",
    "PassReport",
    "fetch_new_events",
    "new_worker_id",
    "refresh_active_jobs",
    "run_once",
    "stop_late_provider_job",
    "stop_orphaned_provider_jobs",
    "submit_job",
    "submit_waiting_jobs",
]
