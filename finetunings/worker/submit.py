"""Submit: take claimed jobs as far as a provider job; every step can be resumed."""

import logging
import tempfile
import threading

from django.conf import settings

from finetunings import services, training_data
from finetunings.models import Finetuning
from finetunings.ops import context as ops_context
from finetunings.providers import Provider, ProviderRejected, ProviderUnavailable
from finetunings.worker.base import METADATA_KEY, Log, PassReport, pause_if_rate_limited
from finetunings.worker.cleanup import stop_late_provider_job

logger = logging.getLogger(__name__)

UNEXPECTED_ERROR_MESSAGE = "The worker hit an unexpected error ({error})."


def submit_waiting_jobs(
    *,
    provider: Provider,
    worker_id: str,
    log: Log,
    report: PassReport | None = None,
    stop: threading.Event | None = None,
) -> None:
    report = report if report is not None else PassReport()
    jobs = services.finetuning_claim_for_submission(
        worker_id=worker_id,
        limit=settings.FINETUNING_WORKER_SUBMIT_BATCH,
        model_provider=provider.name,
    )
    report.submit_claimed = len(jobs)
    for index, job in enumerate(jobs):
        if report.rate_limited or (stop is not None and stop.is_set()):
            # Stopping, or the provider asked everyone to wait: the rest go back untouched.
            rest = [other.pk for other in jobs[index:]]
            services.finetuning_release(finetuning_ids=rest, worker_id=worker_id)
            break
        # Log lines about this job carry its id (job_id in the JSON logs).
        with ops_context.bound(ops_context.job_id, job.pk):
            try:
                submit_job(job=job, provider=provider, worker_id=worker_id, log=log, report=report)
            except Exception as exc:  # a bug must not leave the job leased and silent
                logger.exception("Submitting %s failed unexpectedly", job.pk)
                reason = UNEXPECTED_ERROR_MESSAGE.format(error=exc)
                services.finetuning_back_off(finetuning=job, worker_id=worker_id, reason=reason)
                report.backed_off.append(job.pk)
                log(f"{job.pk}: {reason}")


def submit_job(
    *, job: Finetuning, provider: Provider, worker_id: str, log: Log, report: PassReport
) -> None:
    """Take one claimed job as far as a provider job; every step can be resumed."""
    if not services.finetuning_start_validating(finetuning=job, worker_id=worker_id):
        log(f"{job.pk}: no longer waiting (cancelled or taken over); skipped")
        return
    job.refresh_from_db()
    try:
        remote = _provider_job_for(job, provider=provider, worker_id=worker_id, log=log)
    except (training_data.TrainingDataRejected, ProviderRejected) as exc:
        _fail(job, worker_id=worker_id, reason=exc.message, log=log, report=report)
        return
    except ProviderUnavailable as exc:
        pause_if_rate_limited(exc, provider=provider, log=log, report=report)
        message = services.finetuning_back_off(
            finetuning=job, worker_id=worker_id, reason=exc.message
        )
        report.backed_off.append(job.pk)
        log(f"{job.pk}: {message or exc.message}")
        return
    if remote is None:
        return  # the job moved on meanwhile (said in the log)
    if services.finetuning_attach_provider_job(finetuning=job, remote=remote):
        report.submitted.append(job.pk)
        log(f"{job.pk}: submitted as provider job {remote.id} ({remote.status})")
        return
    stop_late_provider_job(job=job, remote=remote, provider=provider, log=log)


def _provider_job_for(job: Finetuning, *, provider: Provider, worker_id: str, log: Log):
    """Build, upload and create what is missing; None if the job moved on meanwhile.

    Both files (the validation file only for a job with a split) are built and checked
    before either is uploaded: a refused one is refused before anything reaches the provider.
    """
    for kind in Finetuning.KEPT_FILES:
        if _file_to_build(job, kind) and not _build_file(job, kind, worker_id=worker_id, log=log):
            return None
    for kind in Finetuning.KEPT_FILES:
        if _file_to_upload(job, kind) and not _upload_file(
            job, kind, provider=provider, worker_id=worker_id, log=log
        ):
            return None
    if job.provider_create_started_at is not None:
        # An earlier attempt may have created the job and lost the answer: look first.
        remote = provider.find_job_by_metadata(key=METADATA_KEY, value=job.pk)
        if remote is not None:
            log(f"{job.pk}: found provider job {remote.id} from an earlier attempt")
            return remote
    if not services.finetuning_mark_create_started(finetuning=job, worker_id=worker_id):
        log(f"{job.pk}: no longer held by this worker; stopped before creating")
        return None
    return provider.create_job(
        training_file_id=job.finetuning_file_id,
        model=job.model_name,
        hyperparameters=job.model_parameters or {},
        suffix=job.alias,
        metadata={METADATA_KEY: job.pk},
        validation_file_id=job.validation_file_id,
    )


def _fail(job: Finetuning, *, worker_id: str, reason: str, log: Log, report: PassReport) -> None:
    if services.finetuning_fail(finetuning=job, worker_id=worker_id, reason=reason):
        report.failed.append(job.pk)
        log(f"{job.pk}: failed: {reason}")
    else:
        log(f"{job.pk}: not failed ({reason}): cancelled or taken over by another worker")


# How each of a job's files is written (and checked) from its golden records.
_WRITERS = {
    "training": training_data.write_training_file,
    "validation": training_data.write_validation_file,
}


def _file_to_build(job: Finetuning, kind: str) -> bool:
    # Only a job with a split has held-out records to build a validation file of.
    wanted = kind == "training" or bool(job.validation_golden_records)
    return wanted and not getattr(job, f"{kind}_file")


def _file_to_upload(job: Finetuning, kind: str) -> bool:
    return bool(getattr(job, f"{kind}_file")) and not getattr(job, Finetuning.KEPT_FILES[kind])


def _build_file(job: Finetuning, kind: str, *, worker_id: str, log: Log) -> bool:
    """Build, check and keep the file; False when the job moved on meanwhile."""
    with tempfile.TemporaryFile() as file:
        summary = _WRITERS[kind](finetuning=job, out=file)
        file.seek(0)
        kept = services.finetuning_store_file(
            finetuning=job, worker_id=worker_id, kind=kind, file=file, summary=summary.as_dict()
        )
    if not kept:
        log(f"{job.pk}: cancelled or taken over while its {kind} file was built; stopped")
        return False
    log(
        f"{job.pk}: {kind} file built: {summary.examples} examples, {summary.tokens} "
        f"tokens ({summary.token_counting})"
    )
    job.refresh_from_db()
    return True


def _upload_file(job: Finetuning, kind: str, *, provider: Provider, worker_id: str, log: Log):
    """Upload the kept file (the same bytes on every retry); False when the job moved on."""
    with getattr(job, f"{kind}_file").open("rb") as file:
        file_id = provider.upload_training_file(filename=job.kept_file_name(kind), file=file)
    if not services.finetuning_record_uploaded_file(
        finetuning=job, worker_id=worker_id, file_id=file_id, kind=kind
    ):
        log(f"{job.pk}: cancelled or taken over while its {kind} file was uploading; stopped")
        return False
    setattr(job, Finetuning.KEPT_FILES[kind], file_id)
    log(f"{job.pk}: {kind} file uploaded as {file_id}")
    return True
