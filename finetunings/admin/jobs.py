"""The fine-tuning job admin: the list staff search and filter, and the job's page.

The class is assembled from mixins by concern: the columns and read-only fields
(``job_fields``), the cancel action and its confirmation (``cancel``), starting a job again
(``start_again``), the page's live refresh (``live``) and its latest evaluation
(``evaluations``). Saving goes through the services.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseRedirect
from django.urls import reverse

from finetunings import selectors, services
from finetunings.admin.cancel import CANCEL_ACTION, CHANGE_FORM_ACTION_FIELD, CancelActionMixin
from finetunings.admin.evaluations import (
    EVALUATE_ACTION,
    JobEvaluationMixin,
    start_evaluation_action,
)
from finetunings.admin.filters import AnyConnectionFilter, ProviderFilter
from finetunings.admin.job_fields import JobColumnsMixin, JobPageFieldsMixin
from finetunings.admin.job_forms import JOB_EDITABLE_FIELDS, FinetuningAddForm, FinetuningForm
from finetunings.admin.job_search import EstimatedCountPaginator, JobSearchMixin
from finetunings.admin.live import LivePageMixin
from finetunings.admin.mixins import AppAdminMixin, LargeChangeListMixin, adopt, staff_actor
from finetunings.admin.start_again import START_AGAIN_ACTION, StartAgainActionMixin
from finetunings.admin.validation_split import ADD_FIELDS, PAGE_FIELDS, ValidationSplitPageMixin
from finetunings.models import Finetuning, FinetuningStatus

# The job page, top to bottom: what staff ask first, then the job's own fields, then the
# worker's bookkeeping folded away, then the timeline.
JOB_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "live_status",
                "training_progress",
                "training_eta",
                "training_elapsed",
                "model_id_with_copy",
                "loss_chart",
                "checkpoint_table",
            ]
        },
    ),
    ("Evaluation", {"fields": ["evaluation_summary"]}),
    (
        "Job",
        {
            "fields": [
                "id",
                "alias",
                "db_connection",
                "error",
                "error_code",
                "error_param",
                "created_at",
                "updated_at",
                "finished_at",
            ]
        },
    ),
    (
        "Model and training",
        {
            "fields": [
                "model_provider",
                "model_name",
                "model_parameters",
                "resolved_hyperparameters",
                "training_tokens",
            ]
        },
    ),
    (
        "At the provider",
        {
            "fields": [
                "finetuning_job_id",
                "provider_status",
                "finetuning_file_id",
                "training_file_link",
                "model_id",
            ]
        },
    ),
    (
        "Training data",
        {
            "fields": [
                "golden_record_count",
                "golden_record_ids",
                "training_file_sha256",
                "training_file_size",
                "training_summary_lines",
                *PAGE_FIELDS,
            ]
        },
    ),
    ("Cancel", {"fields": ["cancelled_at", "cancelled_by"]}),
    ("Metadata", {"fields": ["metadata"]}),
    (
        "Worker (internal)",
        {
            "classes": ["collapse"],
            "fields": [
                "attempts",
                "next_attempt_at",
                "last_polled_at",
                "provider_create_started_at",
                "lease_owner",
                "lease_until",
                "cancel_lease_until",
                "cancel_request",
                "provider_events_cursor",
            ],
        },
    ),
    ("Timeline", {"fields": ["timeline"]}),
]

JOB_ADD_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "db_connection",
                "alias",
                "model_provider",
                "model_name",
                "golden_records",
                *ADD_FIELDS,
                "metadata",
            ]
        },
    )
]


# What the list's columns read of a row (its progress comes annotated): the page's rows load
# no more, so none of the JSON fields is fetched and decoded 50 times.
LIST_FIELDS = (
    "alias",
    "status",
    "model_id",
    "model_provider",
    "model_name",
    "finetuning_job_id",
    "finetuning_file_id",
    "created_at",
    "db_connection__alias",
)


class FinetuningChangeList(ChangeList):
    """The change list's rows and its bulk actions' querysets, without the long JSON fields.

    Nothing on the list or the cancel confirmation reads them (the cancel service loads
    each job afresh), so deferring them costs no query per row.
    """

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # What the list never shows, yet weighs most (the API shows them, so its list loads them).
        return queryset.without_long_lists()

    def get_results(self, request):
        # The page's rows only; the actions' querysets keep every short field (the services
        # they call read more than the columns do).
        queryset = self.queryset
        self.queryset = queryset.only(*LIST_FIELDS)
        try:
            super().get_results(request)
        finally:
            self.queryset = queryset


@admin.register(Finetuning)
class FinetuningAdmin(
    AppAdminMixin,
    LargeChangeListMixin,
    JobColumnsMixin,
    JobPageFieldsMixin,
    CancelActionMixin,
    StartAgainActionMixin,
    ValidationSplitPageMixin,
    JobEvaluationMixin,
    LivePageMixin,
    JobSearchMixin,
    admin.ModelAdmin,
):
    form = FinetuningForm
    change_form_template = "admin/finetunings/finetuning/change_form.html"
    list_display = [
        "alias",
        "status_badge",
        "progress_column",
        "fine_tuned_model",
        "where_it_runs",
        "created_at",
    ]
    list_filter = [
        "status",
        ProviderFilter,
        AnyConnectionFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["db_connection"]
    list_per_page = 50
    paginator = EstimatedCountPaginator
    actions = [CANCEL_ACTION, START_AGAIN_ACTION, start_evaluation_action]
    fieldsets = JOB_FIELDSETS
    add_fieldsets = JOB_ADD_FIELDSETS
    # Everything but the user-owned alias and metadata is owned by the provider or the worker.
    readonly_fields = [
        name
        for _title, options in JOB_FIELDSETS
        for name in options["fields"]
        if name not in JOB_EDITABLE_FIELDS
    ]

    class Media:
        css = {"all": ["finetunings/admin.css"]}
        js = ["finetunings/copy.js", "finetunings/live.js"]

    def get_queryset(self, request):
        # Not the API's finetuning_list(): the latest evaluation's subquery would be built,
        # compiled and run for every row of the list and every poll of the live view, which
        # never show it.
        return selectors.finetuning_with_progress()

    def get_changelist(self, request, **kwargs):
        return FinetuningChangeList

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            # Not built from the fieldsets: most of the add form's fields are not the model's.
            return FinetuningAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # An active job is cancelled, not deleted (the provider job would keep running).
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # Deleting jobs in bulk would sweep active ones along; terminal jobs are deleted
        # one at a time from their page, where the service refuses active ones.
        actions.pop("delete_selected", None)
        return actions

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["show_cancel_button"] = (
            obj is not None and obj.is_active and self.has_cancel_finetuning_permission(request)
        )
        context["show_start_again_button"] = obj is not None and self.has_start_again_permission(
            request, obj
        )
        context["show_evaluate_button"] = (
            obj is not None
            and obj.status == FinetuningStatus.SUCCEEDED
            and self.has_evaluate_permission(request, obj)
        )
        # One way to do each thing on a job's page: buttons, shown only where they apply.
        # The actions' dropdown offered a cancel of finished jobs too; the buttons still
        # post the change page's actions, which check permissions as before.
        context["action_form"] = None
        context["cancel_action"] = CANCEL_ACTION
        context["start_again_action"] = START_AGAIN_ACTION
        context["evaluate_action"] = EVALUATE_ACTION
        context["change_form_action_field"] = CHANGE_FORM_ACTION_FIELD
        context["action_checkbox_name"] = helpers.ACTION_CHECKBOX_NAME
        context.update(self.live_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            data = form.cleaned_data
            created = services.finetuning_create(
                db_connection_id=data["db_connection"].pk,
                actor=staff_actor(request),
                alias=data["alias"] or None,
                base_llm=form.base_llm,
                golden_records=data["golden_records"],
                metadata=data.get("metadata"),
                **form.validation_request(),
            )
            adopt(obj, created)
            return
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        services.finetuning_update(finetuning=obj, actor=staff_actor(request), **changes)

    def delete_model(self, request, obj):
        services.finetuning_delete(finetuning=obj)

    def response_post_save_add(self, request, obj):
        # A job just started is followed on its own page (status, timeline, Cancel).
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        )
