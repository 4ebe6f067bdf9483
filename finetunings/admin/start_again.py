"""Start a job again: a new job on the same connection, golden records (training and
held-out), model and metadata."""

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.http import HttpResponseRedirect
from django.urls import reverse

from finetunings import errors, services
from finetunings.admin.mixins import refusal_message, staff_actor

START_AGAIN_ACTION = "start_again"
START_AGAIN_DONE = "Started “{job}” with the same golden records."
START_AGAIN_REFUSED = "Could not start the job again: {problems}"
START_AGAIN_LOG_MESSAGE = "Started again from job {job}."


class StartAgainActionMixin:
    """The job page's ``start_again`` action, for users who may add jobs."""

    def has_start_again_permission(self, request, obj=None):
        return self.has_add_permission(request)

    @admin.action(
        permissions=["start_again"],
        description="Start again with the same golden records",
        location=[ActionLocation.CHANGE_FORM],
    )
    def start_again(self, request, queryset):
        job = queryset.first()
        if job is None:
            return None
        try:
            new_job = services.finetuning_create(
                db_connection_id=job.db_connection_id,
                actor=staff_actor(request),
                base_llm=job.base_llm,
                golden_records=list(job.golden_records),
                metadata=job.metadata,
                # The same held-out records: its validation loss compares with this job's.
                validation_golden_records=list(job.validation_golden_records) or None,
            )
        except errors.ValidationFailed as exc:
            self.message_user(
                request, START_AGAIN_REFUSED.format(problems=refusal_message(exc)), messages.ERROR
            )
            return None
        self.log_addition(request, new_job, START_AGAIN_LOG_MESSAGE.format(job=job.pk))
        self.message_user(request, START_AGAIN_DONE.format(job=new_job), messages.SUCCESS)
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[new_job.pk])
        )
