"""The job admin's cancel: one action for the change list (bulk) and the job's page, behind
the ``cancel_finetuning`` permission and a confirmation page like the delete confirmation.

Every cancel goes through ``services.finetuning_cancel``, as the API's does.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.utils import model_ngettext
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from finetunings import errors, services
from finetunings.admin.mixins import staff_actor
from finetunings.models import Finetuning
from finetunings.ops import context as ops_context
from finetunings.ops import metrics
from finetunings.providers import ProviderRejected, ProviderUnavailable

# Messages shown after a cancel, one per job; tests import them.
CANCEL_DONE = "Cancelled “{job}”."
CANCEL_ALREADY_CANCELLED = "“{job}” was already cancelled."
CANCEL_ALREADY_FINISHED = "Did not cancel “{job}”: it has already {status}."
CANCEL_PROVIDER_UNREACHABLE = (
    "Did not cancel “{job}”: the provider could not be reached, so nothing was changed. "
    "Try again later. ({detail})"
)
CANCEL_PROVIDER_REFUSED = (
    "Did not cancel “{job}”: the provider refused the cancel, so nothing was changed. ({detail})"
)
CANCEL_IN_PROGRESS = "Did not cancel “{job}” yet: {detail}"
CANCEL_TOO_MANY = (
    "Select at most {limit} fine-tuning jobs to cancel at once (each one is a call to the "
    "provider); nothing was changed."
)
CANCEL_LOG_MESSAGE = "Cancelled the fine-tuning job."
CANCEL_OUT_OF_TIME = (
    "Did not try to cancel the other {count} selected job(s): the time for one request ran "
    "out while the provider answered slowly. Nothing was changed for them; select them again."
)

CANCEL_ACTION = "cancel_finetunings"
# The prefixed name under which a change page posts its action (Django 6.1's change-form
# actions); the Cancel button posts the same field.
CHANGE_FORM_ACTION_FIELD = f"{ActionLocation.CHANGE_FORM.value}-action"
# The confirmation page's field that sends a cancel from a job's page back to that page.
RETURN_TO_JOB_FIELD = "_return_to_job"


class CancelActionMixin:
    """The ``cancel_finetunings`` action, its confirmation page and its report per job."""

    cancel_confirmation_template = "admin/finetunings/finetuning/cancel_confirmation.html"
    # Every cancel is a provider call made while the request waits, so a bulk one is bounded.
    cancel_max_jobs = 100
    # A bulk cancel stops before the next job when fewer seconds than this are left of the
    # request's deadline (FINETUNING_REQUEST_DEADLINE_SECONDS).
    cancel_min_seconds_left = 2.0

    def has_cancel_finetuning_permission(self, request, obj=None):
        return request.user.has_perm(f"{self.opts.app_label}.cancel_finetuning")

    @admin.action(
        permissions=["cancel_finetuning"],
        description="Cancel this %(verbose_name)s",
        description_plural="Cancel selected %(verbose_name_plural)s",
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def cancel_finetunings(self, request, queryset):
        """Ask for confirmation, then cancel each job through the service and report each.

        The confirmation always posts to the change list. Django runs change-page POSTs
        inside a transaction, and a cancel must not hold one open (nor its row locks) while
        it waits for the provider; the change list runs actions outside a transaction.
        """
        jobs = list(queryset.select_related("db_connection")[: self.cancel_max_jobs + 1])
        if len(jobs) > self.cancel_max_jobs:
            self.message_user(
                request, CANCEL_TOO_MANY.format(limit=self.cancel_max_jobs), messages.WARNING
            )
            return None
        confirmed = request.POST.get("post") == "yes"
        if confirmed and CHANGE_FORM_ACTION_FIELD not in request.POST:
            self._cancel_each(request, jobs)
            return self._after_cancel(request, jobs)
        return self._cancel_confirmation(request, jobs)

    def _cancel_each(self, request, jobs) -> None:
        for index, job in enumerate(jobs):
            # Each cancel may wait on the provider; the whole request must answer before
            # the web server's timeout, so the rest waits for another try.
            remaining = ops_context.remaining_seconds()
            if remaining is not None and remaining < self.cancel_min_seconds_left:
                self.message_user(
                    request, CANCEL_OUT_OF_TIME.format(count=len(jobs) - index), messages.WARNING
                )
                return
            self._cancel_one(request, job)

    def _after_cancel(self, request, jobs):
        filters = request.POST.get("_changelist_filters", "")
        back_to_job = request.POST.get(RETURN_TO_JOB_FIELD)
        if len(jobs) == 1 and back_to_job == jobs[0].pk:
            # Cancelled from the job's page: back to it (the list's filters kept for its
            # breadcrumbs), where the outcome shows and a failed cancel can be retried.
            url = reverse(self._admin_url_name("change"), args=[jobs[0].pk])
            query = urlencode({"_changelist_filters": filters}) if filters else ""
            return HttpResponseRedirect(f"{url}?{query}" if query else url)
        changelist_url = reverse(self._admin_url_name("changelist"))
        return HttpResponseRedirect(f"{changelist_url}?{filters}" if filters else changelist_url)

    def _admin_url_name(self, page: str) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}"

    def _cancel_confirmation(self, request, jobs):
        is_changelist = request.resolver_match and (
            f"admin:{request.resolver_match.url_name}" == self._admin_url_name("changelist")
        )
        filters = (
            request.GET.urlencode() if is_changelist else request.GET.get("_changelist_filters", "")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Are you sure?",
            "subtitle": None,
            "opts": self.opts,
            "objects_name": model_ngettext(self.opts, len(jobs)),
            "jobs": jobs,
            "active_jobs": [job for job in jobs if job.is_active],
            "inactive_jobs": [job for job in jobs if not job.is_active],
            "action_name": CANCEL_ACTION,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse(self._admin_url_name("changelist")),
            "changelist_filters": filters,
            "return_to_job_field": RETURN_TO_JOB_FIELD,
            "return_to_job": jobs[0].pk if not is_changelist and len(jobs) == 1 else None,
            "preserved_filters": self.get_preserved_filters(request),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.cancel_confirmation_template, context)

    def _cancel_one(self, request, job: Finetuning) -> None:
        actor = staff_actor(request)
        try:
            with metrics.cancel_timer():
                outcome = services.finetuning_cancel(finetuning=job, actor=actor)
        except errors.FinetuningNotCancellable as exc:
            message = CANCEL_ALREADY_FINISHED.format(job=job, status=exc.status)
            self.message_user(request, message, messages.WARNING)
        except (ProviderUnavailable, ProviderRejected) as exc:
            template = (
                CANCEL_PROVIDER_UNREACHABLE
                if isinstance(exc, ProviderUnavailable)
                else CANCEL_PROVIDER_REFUSED
            )
            message = template.format(job=job, detail=exc.message)
            self._record_failed_cancel(request, job, actor=actor, message=message)
            self.message_user(request, message, messages.ERROR)
        except errors.CancelInProgress as exc:
            message = CANCEL_IN_PROGRESS.format(job=job, detail=exc.message)
            self.message_user(request, message, messages.WARNING)
        else:
            if outcome.cancelled_now:
                self.log_change(request, outcome.finetuning, CANCEL_LOG_MESSAGE)
                self.message_user(request, CANCEL_DONE.format(job=job), messages.SUCCESS)
            else:
                self.message_user(request, CANCEL_ALREADY_CANCELLED.format(job=job), messages.INFO)

    def _record_failed_cancel(self, request, job: Finetuning, *, actor: str, message: str):
        """A cancel the provider did not take is in the job's timeline and History too."""
        services.finetuning_record_cancel_failed(finetuning=job, actor=actor, message=message)
        self.log_change(request, job, message)
