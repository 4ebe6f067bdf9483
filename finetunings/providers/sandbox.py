"""A sandbox provider: a whole fine-tuning job's life, played inside the service, for free.

For first steps without an OpenAI key (``base_llm.model_provider: "sandbox"``): the worker
submits, follows and finishes a sandbox job through the same provider boundary as an OpenAI
one, so every page and route can be seen working. Nothing leaves the machine and no model is
trained; every id it hands out says ``sandbox``.

It keeps no state: a job's id carries the moment it was created, and what the job is doing
is worked out from the time since (``FINETUNING_SANDBOX_STEP_SECONDS`` per step: one step
validating the file, then ``STEPS`` training steps, each with a metrics event, a checkpoint
at the end, then ``succeeded``). So the web process, which cancels, and the worker, which
follows, agree without sharing anything. Turned off by ``FINETUNING_SANDBOX_ENABLED``
(off by default unless ``DJANGO_DEBUG`` is on).
"""

import datetime
import hashlib
import secrets

from django.conf import settings

from finetunings.providers.base import (
    GeneratedSQL,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderEventPage,
    ProviderJob,
    ProviderRejected,
)

NAME = "sandbox"
# The sandbox's answer to every question: valid SQL in every dialect, never right by chance
# of the question.
SANDBOX_ANSWER = "SELECT 1"
STEPS = 10
_PREFIX = "sandbox-ftjob-"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _created(job_id: str) -> datetime.datetime:
    try:
        millis = int(job_id.removeprefix(_PREFIX).split("-")[0])
    except ValueError:
        raise ProviderRejected(f"No sandbox fine-tuning job {job_id}.", status_code=404) from None
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC)


def _steps_done(job_id: str) -> int:
    """Whole steps since the job was created (everything at once when a step takes 0 s)."""
    step = settings.FINETUNING_SANDBOX_STEP_SECONDS
    if step <= 0:
        return STEPS + 2
    return int((_now() - _created(job_id)).total_seconds() // step)


def fine_tuned_model(job_id: str) -> str:
    return f"ft:sandbox:{job_id.removeprefix(_PREFIX)}"


class SandboxProvider:
    name = NAME

    def configuration_problem(self) -> str | None:
        return None  # needs no key

    def upload_training_file(self, *, filename, file) -> str:
        digest = hashlib.sha256()
        for chunk in iter(lambda: file.read(1 << 16), b""):
            digest.update(chunk)
        return f"sandbox-file-{digest.hexdigest()[:24]}"

    def create_job(
        self, *, training_file_id, model, hyperparameters, suffix, metadata, validation_file_id=None
    ):
        millis = int(_now().timestamp() * 1000)
        job_id = f"{_PREFIX}{millis}-{secrets.token_hex(4)}"
        # Every job starts by validating its file, however short the steps, so that the
        # worker follows it (and stores its events) like any other.
        return ProviderJob(
            id=job_id,
            status="validating_files",
            model="sandbox",
            training_file=training_file_id,
            validation_file=validation_file_id,
            metadata=metadata,
            created_at=_created(job_id),
        )

    def _job(self, job_id: str, **fields) -> ProviderJob:
        done = _steps_done(job_id)
        if done < 1:
            status = "validating_files"
        elif done <= STEPS:
            status = "running"
        else:
            status = "succeeded"
        return ProviderJob(
            id=job_id,
            status=status,
            model="sandbox",
            fine_tuned_model=fine_tuned_model(job_id) if status == "succeeded" else None,
            created_at=_created(job_id),
            **fields,
        )

    def retrieve_job(self, job_id: str) -> ProviderJob:
        return self._job(job_id)

    def list_jobs(self, *, after=None, limit=100) -> list[ProviderJob]:
        return []  # nothing is kept to list: the worker retrieves each job instead

    def find_job_by_metadata(self, *, key, value):
        return None  # creating a sandbox job twice costs nothing

    def cancel_job(self, job_id: str) -> ProviderJob:
        job = self._job(job_id)
        if job.status == "succeeded":
            raise ProviderRejected(f"Sandbox job {job_id} has already succeeded.", status_code=400)
        return ProviderJob(
            id=job_id, status="cancelled", model="sandbox", created_at=job.created_at
        )

    def list_job_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        if _steps_done(job_id) <= STEPS:
            return []
        return [
            ProviderCheckpoint(
                id=f"{job_id}-ckpt-{STEPS}",
                step=STEPS,
                model_id=f"{fine_tuned_model(job_id)}:ckpt-step-{STEPS}",
                metrics={"step": float(STEPS), "train_loss": round(2.0 * 0.8**STEPS, 4)},
                created_at=_created(job_id),
            )
        ]

    def list_job_events(self, job_id: str, *, after=None, limit=100) -> ProviderEventPage:
        created = _created(job_id)
        done = min(_steps_done(job_id), STEPS + 1)
        step_length = datetime.timedelta(seconds=max(settings.FINETUNING_SANDBOX_STEP_SECONDS, 0))

        def event(
            number: int, at_step: int, message: str, type: str = "message", **data
        ) -> ProviderEvent:
            # Distinct, increasing times even when a step takes no time at all.
            at = created + step_length * at_step + datetime.timedelta(milliseconds=number)
            return ProviderEvent(
                id=f"{job_id}-event-{number:03d}",
                created_at=at,
                level="info",
                message=f"[sandbox] {message}",
                data={"type": type, **data} if type != "message" else data,
                type=type,
            )

        events = [event(0, 0, "Validating training file (nothing is uploaded anywhere).")]
        if done >= 1:
            events.append(event(1, 1, "Fine-tuning job started (a simulation: no model trains)."))
        for step in range(1, min(done, STEPS) + 1):
            loss = round(2.0 * 0.8**step, 4)
            accuracy = round(1 - 0.5 * 0.8**step, 4)
            events.append(
                event(
                    1 + step,
                    step,
                    f"Step {step}/{STEPS}: training loss={loss}",
                    type="metrics",
                    step=step,
                    train_loss=loss,
                    train_mean_token_accuracy=accuracy,
                    total_steps=STEPS,
                )
            )
        if done > STEPS:
            events.append(
                event(
                    STEPS + 2,
                    STEPS + 1,
                    f"Checkpoint created at step {STEPS}.",
                    type="checkpoint",
                    step=STEPS,
                    fine_tuned_model_checkpoint=f"{fine_tuned_model(job_id)}:ckpt-step-{STEPS}",
                )
            )
            events.append(
                event(STEPS + 3, STEPS + 1, "The job has successfully completed (sandbox).")
            )
        events.reverse()  # newest first, as OpenAI lists them; ``after`` pages to older ones
        if after is not None:
            ids = [found.id for found in events]
            events = events[ids.index(after) + 1 :] if after in ids else []
        return ProviderEventPage(events=events[:limit], has_more=len(events) > limit)

    def generate_sql(self, *, model, messages, max_tokens, timeout=None) -> GeneratedSQL:
        # No model runs here: every model gives the same plain answer, so an evaluation of a
        # sandbox job shows its pages working (both models score alike) at no cost.
        # Token counts are the service's usual estimate (4 characters a token).
        return GeneratedSQL(
            sql=SANDBOX_ANSWER,
            text=SANDBOX_ANSWER,
            prompt_tokens=sum(len(m.get("content") or "") for m in messages) // 4,
            completion_tokens=len(SANDBOX_ANSWER) // 4 + 1,
        )
