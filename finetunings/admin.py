"""The Django admin: staff's whole tool for looking at fine-tuning jobs and stopping them.

The classes here only present data and call ``finetunings.services``: the cancel action,
the Cancel button and the API share ``services.finetuning_cancel``, and every save or
delete of a connection, golden record or API key goes through its service. Reads come
from ``finetunings.selectors``. Change lists are built for hundreds of thousands of rows:
one query for the page (related rows joined), one count of the filtered rows for the
paginator but not a second one of the whole table, no query per row.
"""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.utils import model_ngettext
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from finetunings import (
    admin_evaluations,
    admin_io,
    admin_training,
    admin_validation,
    errors,
    selectors,
    services,
    validation,
)
from finetunings.models import (
    APIKey,
    DatabaseConnection,
    Finetuning,
    FinetuningEventKind,
    GoldenRecord,
)
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
ADD_GOLDEN_RECORDS_HELP = (
    "Ids separated by spaces, commas or new lines. Leave blank to train on all of the "
    "connection's golden records."
)
ADD_LOG_MESSAGE = "Started the fine-tuning job."
START_AGAIN_ACTION = "start_again"
START_AGAIN_DONE = "Started “{job}” with the same golden records."
START_AGAIN_REFUSED = "Could not start the job again: {problems}"
START_AGAIN_LOG_MESSAGE = "Started again from job {job}."
# The confirmation page's field that sends a cancel from a job's page back to that page.
RETURN_TO_JOB_FIELD = "_return_to_job"
API_KEY_CREATED = (
    "The API key “{name}” was created. Copy it now, it will not be shown again: {raw_key}"
)
API_KEY_REVOKED = "Revoked {count} API key(s)."
CONNECTION_ALIAS_TAKEN = "A database connection with this alias already exists."

TIMELINE_SUMMARY = "The latest {shown} of {total} events, newest first."
TIMELINE_SUMMARY_ALL = "{total} event(s), newest first."

# How much of a job's long lists its change page shows; the API serves all of it.
TIMELINE_EVENTS_SHOWN = 50
TIMELINE_DATA_CHARS = 300
GOLDEN_RECORD_IDS_SHOWN = 20

# Every cancel is a provider call made while the request waits, so a bulk cancel is bounded.
CANCEL_MAX_JOBS = 100
# A bulk cancel stops before the next job when fewer seconds than this are left of the
# request's deadline (FINETUNING_REQUEST_DEADLINE_SECONDS).
CANCEL_MIN_SECONDS_LEFT = 2.0

CANCEL_ACTION = "cancel_finetunings"
# The prefixed name under which a change page posts its action (Django 6.1's change-form
# actions); the Cancel button posts the same field.
CHANGE_FORM_ACTION_FIELD = f"{ActionLocation.CHANGE_FORM.value}-action"


def staff_actor(request) -> str:
    """Who is acting, in the form the API also writes in a job's timeline."""
    return f"staff user {request.user.get_username()}"


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def adopt(obj, saved) -> None:
    """Make the admin's unsaved instance the row a service created, for the admin's redirect."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


# --- Filters -----------------------------------------------------------------------------


class RefuseNulCharactersMixin:
    """Change lists answer query strings holding NUL characters as Django does bad filters.

    PostgreSQL text cannot hold NUL, so any filter or search value with one would fail the
    page's query with a 500; no stored value holds one, so nothing is lost.
    """

    def changelist_view(self, request, extra_context=None):
        if any("\x00" in value for _key, values in request.GET.lists() for value in values):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # Also the autocomplete of related fields, which is not a change list.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def get_object(self, request, object_id, from_field=None):
        # The change, delete and history pages: no id holds a NUL, and PostgreSQL would
        # refuse to look one up (a 500); None is Django's "doesn't exist".
        if "\x00" in str(object_id):
            return None
        return super().get_object(request, object_id, from_field)


class ServiceRefusalsAsMessagesMixin:
    """A service refusing a save or delete shows as an error message, not a 500.

    The admin checks the same rules first (active jobs block a delete, aliases are unique),
    so this only happens when another request wins a race between the check and the write.
    The page's transaction is rolled back; the user lands on the same page again.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._refusals_as_messages(
            request, super().changeform_view, request, object_id, form_url, extra_context
        )

    def delete_view(self, request, object_id, extra_context=None):
        return self._refusals_as_messages(
            request, super().delete_view, request, object_id, extra_context
        )

    def changelist_view(self, request, extra_context=None):
        # The bulk delete action goes through the services one row at a time.
        return self._refusals_as_messages(request, super().changelist_view, request, extra_context)

    def _refusals_as_messages(self, request, view, *args):
        try:
            return view(*args)
        except errors.DomainError as exc:
            self.message_user(request, refusal_message(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def refusal_message(exc: errors.DomainError) -> str:
    if isinstance(exc, errors.ValidationFailed):
        return " ".join(message for problems in exc.errors.values() for message in problems)
    return exc.message


class ChoiceListFilter(admin.SimpleListFilter):
    """A filter that ignores values it does not offer, rather than querying with them."""

    def chosen(self) -> str | None:
        value = self.value()
        return value if value in {str(key) for key, _label in self.lookup_choices} else None


class ProviderFilter(ChoiceListFilter):
    """Providers from settings, so the filter costs no DISTINCT over the jobs table."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(name, name) for name in settings.FINETUNING_PROVIDERS]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(model_provider=self.chosen())
        return queryset


class ConnectionFilter(ChoiceListFilter):
    """Filter by database connection; only live ones are offered for golden records."""

    title = "database connection"
    parameter_name = "db_connection"
    include_deleted = False

    def lookups(self, request, model_admin):
        connections = (
            DatabaseConnection.objects.all()
            if self.include_deleted
            else selectors.database_connection_list()
        )
        return [
            (pk, f"{alias} (deleted)" if deleted_at else alias)
            for pk, alias, deleted_at in connections.order_by("alias").values_list(
                "pk", "alias", "deleted_at"
            )
        ]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(db_connection_id=self.chosen())
        return queryset


class AnyConnectionFilter(ConnectionFilter):
    # Jobs outlive their connection, so a deleted connection still filters its jobs.
    include_deleted = True


# --- Fine-tuning jobs -------------------------------------------------------------------


# What staff may edit on a job; the rest of its page is read-only.
JOB_EDITABLE_FIELDS = ("alias", "metadata")


class FinetuningForm(forms.ModelForm):
    class Meta:
        model = Finetuning
        fields = list(JOB_EDITABLE_FIELDS)

    def clean_metadata(self):
        metadata = self.cleaned_data["metadata"]
        for problem in validation.metadata_problems(metadata):
            self.add_error("metadata", problem)
        return metadata


def model_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The base models staff may pick, grouped by provider (as the API allows them)."""
    return [
        (provider, [(name, name) for name in names])
        for provider, names in settings.FINETUNING_ALLOWED_MODELS.items()
        if provider in settings.FINETUNING_PROVIDERS
    ]


class FinetuningAddForm(admin_validation.ValidationSplitFormMixin, forms.ModelForm):
    """A blank job: its fields are checked by the same rules as ``finetuning_create``."""

    db_connection = forms.ModelChoiceField(
        queryset=DatabaseConnection.objects.none(), label="Database connection"
    )
    model_provider = forms.ChoiceField(label="Provider")
    model_name = forms.ChoiceField(label="Base model")
    golden_records = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "ft-code"}),
        label="Golden record ids",
        help_text=ADD_GOLDEN_RECORDS_HELP,
    )

    class Meta:
        model = Finetuning
        fields = ["alias", "metadata"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["db_connection"].queryset = selectors.database_connection_list()
        self.fields["alias"].required = False
        self.fields["alias"].help_text = "Leave blank for one made of the connection and the time."
        self.fields["model_provider"].choices = [
            (provider, provider) for provider, _models in model_choices()
        ]
        self.fields["model_provider"].initial = settings.FINETUNING_DEFAULT_PROVIDER
        self.fields["model_name"].choices = model_choices()
        self.fields["model_name"].initial = settings.FINETUNING_DEFAULT_MODEL

    def clean_golden_records(self):
        # Blank means all of the connection's, as omitting the field does in the API.
        ids = self.cleaned_data["golden_records"].replace(",", " ").split()
        return ids or None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        problems = services.finetuning_create_problems(
            db_connection_id=cleaned["db_connection"].pk,
            base_llm=self.base_llm,
            golden_records=cleaned["golden_records"],
            metadata=cleaned.get("metadata"),
            **self.validation_request(),
        )
        for field, messages_ in problems.items():
            # The service names fields as the API does (base_llm.model_name, ...).
            name = field.removeprefix("base_llm.")
            self.add_error(name if name in self.fields else None, messages_)
        return cleaned

    @property
    def base_llm(self) -> dict:
        return {
            "model_provider": self.cleaned_data["model_provider"],
            "model_name": self.cleaned_data["model_name"],
        }


class FinetuningChangeList(ChangeList):
    """The change list's rows and its bulk actions' querysets, without the long JSON fields.

    Nothing on the list or the cancel confirmation reads them (the cancel service loads
    each job afresh), so deferring them costs no query per row.
    """

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer(*selectors.FINETUNING_LIST_DEFERRED)


@admin.register(Finetuning)
class FinetuningAdmin(
    RefuseNulCharactersMixin,
    ServiceRefusalsAsMessagesMixin,
    admin_validation.ValidationSplitAdminMixin,
    admin.ModelAdmin,
):
    form = FinetuningForm
    change_form_template = "admin/finetunings/finetuning/change_form.html"
    cancel_confirmation_template = "admin/finetunings/finetuning/cancel_confirmation.html"

    list_display = [
        "alias",
        "status_badge",
        "connection",
        "base_model",
        "created_at",
        "provider_job",
        "provider_file",
        "fine_tuned_model",
        "progress_column",
    ]
    list_filter = [
        "status",
        ProviderFilter,
        AnyConnectionFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    # Ids are matched exactly so that the lookups can use their indexes.
    search_fields = ["alias", "=id", "=finetuning_job_id", "=finetuning_file_id", "=model_id"]
    search_help_text = "Alias (contains), or an exact job, provider job, file or model id."
    list_select_related = ["db_connection"]
    # Newest first on the indexed created_at; the id breaks ties so pages are stable.
    ordering = ["-created_at", "-id"]
    list_per_page = 50
    # A full count of hundreds of thousands of rows on every page view is not worth it,
    # nor a count per filter option.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = [CANCEL_ACTION, START_AGAIN_ACTION, admin_evaluations.start_evaluation_action]

    fieldsets = [
        (
            # What staff ask first about a job, at the top of its page.
            "Training",
            {
                "fields": [
                    "training_progress",
                    "training_eta",
                    "model_id_with_copy",
                    "loss_chart",
                    "checkpoint_table",
                ]
            },
        ),
        ("Evaluation", {"fields": ["evaluation_summary"]}),
        (
            None,
            {
                "fields": [
                    "id",
                    "alias",
                    "status_badge",
                    "status_message",
                    "error",
                    "db_connection",
                    "created_at",
                    "updated_at",
                    "finished_at",
                ]
            },
        ),
        ("Base model", {"fields": ["model_provider", "model_name", "model_parameters"]}),
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
                    *admin_validation.CHANGE_FIELDS,
                ]
            },
        ),
        ("Cancel", {"fields": ["cancelled_at", "cancelled_by"]}),
        ("Metadata", {"fields": ["metadata"]}),
        (
            "Worker",
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
                ],
            },
        ),
        ("Timeline", {"fields": ["timeline"]}),
    ]
    # Everything but the user-owned alias and metadata is owned by the provider or the worker.
    readonly_fields = [
        name
        for _title, options in fieldsets
        for name in options["fields"]
        if name not in JOB_EDITABLE_FIELDS
    ]

    class Media:
        css = {"all": ["finetunings/admin.css"]}
        js = ["finetunings/copy.js"]

    def get_queryset(self, request):
        return selectors.finetuning_list()

    def get_changelist(self, request, **kwargs):
        return FinetuningChangeList

    add_fieldsets = [
        (
            None,
            {
                "fields": [
                    "db_connection",
                    "alias",
                    "model_provider",
                    "model_name",
                    "golden_records",
                    *admin_validation.ADD_FIELDS,
                    "metadata",
                ]
            },
        )
    ]

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

    def has_cancel_finetuning_permission(self, request, obj=None):
        return request.user.has_perm(f"{self.opts.app_label}.cancel_finetuning")

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # Deleting jobs in bulk would sweep active ones along; terminal jobs are deleted
        # one at a time from their page, where the service refuses active ones.
        actions.pop("delete_selected", None)
        return actions

    # --- columns and read-only fields ---------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span class="ft-badge ft-badge-{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description="base model", ordering="model_name")
    def base_model(self, obj):
        return f"{obj.model_provider} / {obj.model_name}"

    @admin.display(description="connection", ordering="db_connection__alias")
    def connection(self, obj):
        return obj.db_connection.alias

    @admin.display(description="provider job", ordering="finetuning_job_id", empty_value="-")
    def provider_job(self, obj):
        return obj.finetuning_job_id

    @admin.display(description="training file id", empty_value="-")
    def provider_file(self, obj):
        return obj.finetuning_file_id

    @admin.display(description="fine-tuned model", empty_value="-")
    def fine_tuned_model(self, obj):
        return obj.model_id

    @admin.display(description="progress", empty_value="-")
    def progress_column(self, obj):
        progress = selectors.finetuning_progress(obj)
        if progress is None or progress["percent"] is None:
            return None
        return f"{progress['percent']:g} %"

    @admin.display(description="progress")
    def training_progress(self, obj):
        return admin_training.progress_html(obj)

    @admin.display(description="estimated finish")
    def training_eta(self, obj):
        return admin_training.eta_html(obj)

    @admin.display(description="fine-tuned model")
    def model_id_with_copy(self, obj):
        return admin_training.model_id_html(obj.model_id)

    @admin.display(description="loss by step")
    def loss_chart(self, obj):
        return admin_training.loss_chart_html(obj)

    @admin.display(description="checkpoints")
    def checkpoint_table(self, obj):
        return admin_training.checkpoints_html(obj)

    @admin.display(description="latest evaluation")
    def evaluation_summary(self, obj):
        return admin_evaluations.evaluation_summary_html(obj)

    @admin.display(description="training file")
    def training_file_link(self, obj):
        if not obj.training_file:
            return "Not built yet."
        url = reverse("api:finetuning-training-file", args=[obj.pk])
        return format_html('<a href="{}">Download the training file (JSONL)</a>', url)

    @admin.display(description="number of golden records")
    def golden_record_count(self, obj):
        return len(obj.golden_records or [])

    @admin.display(description="golden record ids")
    def golden_record_ids(self, obj):
        # A job may list 100,000 ids (3.8 MB of page); the API has the full list.
        ids = obj.golden_records or []
        shown = ", ".join(ids[:GOLDEN_RECORD_IDS_SHOWN])
        hidden = len(ids) - GOLDEN_RECORD_IDS_SHOWN
        if hidden <= 0:
            return shown or "-"
        return format_html(
            '{} and {} more (<a href="{}">all of them in the API</a>)',
            shown,
            f"{hidden:,}",
            reverse("api:finetuning-detail", args=[obj.pk]),
        )

    @admin.display(description="training file summary")
    def training_summary_lines(self, obj):
        if not obj.training_summary:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{}: {}",
            (
                (key, value if isinstance(value, str) else json.dumps(value))
                for key, value in obj.training_summary.items()
            ),
        )

    @admin.display(description="timeline")
    def timeline(self, obj):
        """The latest events as a read-only table, newest first, with a link to all of them.

        Not an inline: each inline row posts back hidden inputs, so a long timeline broke
        saving the form (DATA_UPLOAD_MAX_NUMBER_FIELDS) and a training run's thousands of
        provider events made a page of megabytes.
        """
        latest, total = selectors.finetuning_timeline_latest(
            finetuning=obj, limit=TIMELINE_EVENTS_SHOWN
        )
        if not latest:
            return "No events yet."
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(event.created_at), "Y-m-d H:i:s"),
                    event.get_kind_display(),
                    event.actor or "-",
                    f"{event.from_status or '-'} → {event.to_status}" if event.to_status else "-",
                    event.message or "-",
                    shortened(json.dumps(event.data), TIMELINE_DATA_CHARS) if event.data else "-",
                )
                for event in latest
            ),
        )
        url = reverse("api:finetuning-events", args=[obj.pk])
        return format_html(
            '<p>{} (<a href="{}">the whole timeline, oldest first, in the API</a>)</p>'
            '<table class="ft-timeline"><thead><tr><th>when</th><th>kind</th><th>actor</th>'
            "<th>status</th><th>message</th><th>data</th></tr></thead><tbody>{}</tbody></table>",
            (TIMELINE_SUMMARY if total > len(latest) else TIMELINE_SUMMARY_ALL).format(
                shown=len(latest), total=f"{total:,}"
            ),
            url,
            rows,
        )

    # --- saving goes through the services -------------------------------------------------

    def save_model(self, request, obj, form, change):
        if not change:
            data = form.cleaned_data
            adopt(
                obj,
                services.finetuning_create(
                    db_connection_id=data["db_connection"].pk,
                    actor=staff_actor(request),
                    alias=data["alias"] or None,
                    base_llm=form.base_llm,
                    golden_records=data["golden_records"],
                    metadata=data.get("metadata"),
                    **form.validation_request(),
                ),
            )
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

    # --- cancel -----------------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["show_cancel_button"] = (
            obj is not None and obj.is_active and self.has_cancel_finetuning_permission(request)
        )
        context["show_start_again_button"] = obj is not None and self.has_start_again_permission(
            request, obj
        )
        # One way to do each thing on a job's page: buttons, shown only where they apply.
        # The actions' dropdown offered a cancel of finished jobs too; the buttons still
        # post the change page's actions, which check permissions as before.
        context["action_form"] = None
        context["cancel_action"] = CANCEL_ACTION
        context["start_again_action"] = START_AGAIN_ACTION
        context["change_form_action_field"] = CHANGE_FORM_ACTION_FIELD
        context["action_checkbox_name"] = helpers.ACTION_CHECKBOX_NAME
        return super().render_change_form(request, context, add, change, form_url, obj)

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
        jobs = list(queryset.select_related("db_connection")[: CANCEL_MAX_JOBS + 1])
        if len(jobs) > CANCEL_MAX_JOBS:
            self.message_user(
                request, CANCEL_TOO_MANY.format(limit=CANCEL_MAX_JOBS), messages.WARNING
            )
            return None
        confirmed = request.POST.get("post") == "yes"
        if confirmed and CHANGE_FORM_ACTION_FIELD not in request.POST:
            for index, job in enumerate(jobs):
                # Each cancel may wait on the provider; the whole request must answer
                # before the web server's timeout, so the rest waits for another try.
                remaining = ops_context.remaining_seconds()
                if remaining is not None and remaining < CANCEL_MIN_SECONDS_LEFT:
                    self.message_user(
                        request,
                        CANCEL_OUT_OF_TIME.format(count=len(jobs) - index),
                        messages.WARNING,
                    )
                    break
                self._cancel_one(request, job)
            filters = request.POST.get("_changelist_filters", "")
            back_to_job = request.POST.get(RETURN_TO_JOB_FIELD)
            if len(jobs) == 1 and back_to_job == jobs[0].pk:
                # Cancelled from the job's page: back to it (the list's filters kept for
                # its breadcrumbs), where the outcome shows and a failed cancel can be retried.
                url = reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[jobs[0].pk],
                )
                query = urlencode({"_changelist_filters": filters}) if filters else ""
                return HttpResponseRedirect(f"{url}?{query}" if query else url)
            changelist_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
            )
            return HttpResponseRedirect(
                f"{changelist_url}?{filters}" if filters else changelist_url
            )
        return self._cancel_confirmation(request, jobs)

    def _cancel_confirmation(self, request, jobs):
        preserved = self.get_preserved_filters(request)
        is_changelist = (
            request.resolver_match
            and request.resolver_match.url_name
            == f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        )
        filters = (
            request.GET.urlencode() if is_changelist else request.GET.get("_changelist_filters", "")
        )
        active = [job for job in jobs if job.is_active]
        context = {
            **self.admin_site.each_context(request),
            "title": "Are you sure?",
            "subtitle": None,
            "opts": self.opts,
            "objects_name": model_ngettext(self.opts, len(jobs)),
            "jobs": jobs,
            "active_jobs": active,
            "inactive_jobs": [job for job in jobs if not job.is_active],
            "action_name": CANCEL_ACTION,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
            ),
            "changelist_filters": filters,
            "return_to_job_field": RETURN_TO_JOB_FIELD,
            "return_to_job": jobs[0].pk if not is_changelist and len(jobs) == 1 else None,
            "preserved_filters": preserved,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.cancel_confirmation_template, context)

    def _cancel_one(self, request, job: Finetuning) -> None:
        actor = staff_actor(request)
        started = timezone.now()
        try:
            with metrics.cancel_timer():
                result = services.finetuning_cancel(finetuning=job, actor=actor, metadata=None)
        except errors.FinetuningNotCancellable as exc:
            self.message_user(
                request,
                CANCEL_ALREADY_FINISHED.format(job=job, status=exc.status),
                messages.WARNING,
            )
        except ProviderUnavailable as exc:
            message = CANCEL_PROVIDER_UNREACHABLE.format(job=job, detail=exc.message)
            self._record_failed_cancel(request, job, actor=actor, message=message)
            self.message_user(request, message, messages.ERROR)
        except ProviderRejected as exc:
            message = CANCEL_PROVIDER_REFUSED.format(job=job, detail=exc.message)
            self._record_failed_cancel(request, job, actor=actor, message=message)
            self.message_user(request, message, messages.ERROR)
        except errors.CancelInProgress as exc:
            self.message_user(
                request, CANCEL_IN_PROGRESS.format(job=job, detail=exc.message), messages.WARNING
            )
        else:
            # The service also returns a job that someone else had cancelled before us.
            if (
                result.cancelled_by == actor
                and result.cancelled_at is not None
                and result.cancelled_at >= started
            ):
                self.log_change(request, result, CANCEL_LOG_MESSAGE)
                self.message_user(request, CANCEL_DONE.format(job=job), messages.SUCCESS)
            else:
                self.message_user(request, CANCEL_ALREADY_CANCELLED.format(job=job), messages.INFO)

    def has_start_again_permission(self, request, obj=None):
        return self.has_add_permission(request)

    @admin.action(
        permissions=["start_again"],
        description="Start again with the same golden records",
        location=[ActionLocation.CHANGE_FORM],
    )
    def start_again(self, request, queryset):
        """A new job on the same connection, golden records, model and metadata."""
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

    def _record_failed_cancel(self, request, job: Finetuning, *, actor: str, message: str):
        """A cancel the provider did not take is in the job's timeline and History too."""
        services.finetuning_record_event(
            finetuning_id=job.pk, kind=FinetuningEventKind.ERROR, actor=actor, message=message
        )
        self.log_change(request, job, message)


# --- Database connections ----------------------------------------------------------------


class DatabaseConnectionForm(forms.ModelForm):
    # Write-only: the stored URI is encrypted and never sent back to the browser.
    connection_uri = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        label="New connection URI",
        help_text="For example postgresql://user:password@host:5432/db. "
        "Leave blank to keep the current one.",
    )

    class Meta:
        model = DatabaseConnection
        fields = ["alias", "dialect", "connection_uri", "schema", "metadata", "allow_execution"]
        widgets = {"schema": forms.Textarea(attrs={"class": "ft-code", "rows": 12})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            self.fields["connection_uri"].required = True
            self.fields["connection_uri"].label = "Connection URI"
            self.fields[
                "connection_uri"
            ].help_text = "For example postgresql://user:password@host:5432/db. Stored encrypted."

    def clean_alias(self):
        # The model's unique constraint only holds among live connections, which Django's
        # form validation cannot check (it depends on deleted_at, not a form field).
        alias = self.cleaned_data["alias"]
        taken = selectors.database_connection_list().filter(alias=alias)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(CONNECTION_ALIAS_TAKEN)
        return alias

    def clean(self):
        cleaned = super().clean()
        uri, dialect = cleaned.get("connection_uri"), cleaned.get("dialect")
        if not uri and "dialect" in self.changed_data and not self.instance._state.adding:
            # Blank keeps the stored URI, whose scheme must still fit the new dialect.
            uri = self.instance.connection_uri
        if uri and dialect and "connection_uri" not in self.errors:
            for problem in validation.connection_uri_problems(uri, dialect):
                self.add_error("connection_uri", problem)
        return cleaned

    def clean_metadata(self):
        metadata = self.cleaned_data["metadata"]
        for problem in validation.metadata_problems(metadata):
            self.add_error("metadata", problem)
        return metadata


@admin.register(DatabaseConnection)
class DatabaseConnectionAdmin(
    RefuseNulCharactersMixin, ServiceRefusalsAsMessagesMixin, admin.ModelAdmin
):
    form = DatabaseConnectionForm
    list_display = ["alias", "dialect", "masked_connection_uri", "created_at"]
    list_filter = ["dialect"]
    search_fields = ["alias"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "id",
        "alias",
        "dialect",
        "masked_connection_uri",
        "connection_uri",
        "schema",
        "metadata",
        "allow_execution",
        "related_pages",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["id", "masked_connection_uri", "related_pages", "created_at", "updated_at"]

    class Media:
        css = {"all": ["finetunings/admin.css"]}

    @admin.display(description="connection URI (password masked)")
    def masked_connection_uri(self, obj):
        return obj.masked_connection_uri or "-"

    def get_queryset(self, request):
        return selectors.database_connection_list()

    @admin.display(description="connection URI (password masked)")
    def connection_uri(self, obj):
        # Django shows every field of a view-only page as read-only text, looked up on the
        # admin before the object: should the write-only field ever be shown read-only, this
        # keeps the model's decrypting ``connection_uri`` property from being displayed.
        return self.masked_connection_uri(obj)

    @admin.display(description="jobs and golden records")
    def related_pages(self, obj):
        query = urlencode({"db_connection": obj.pk})
        return format_html(
            '<a href="{}?{}">Fine-tuning jobs of this connection</a> · '
            '<a href="{}?{}">Its golden records</a>',
            reverse("admin:finetunings_finetuning_changelist"),
            query,
            reverse("admin:finetunings_goldenrecord_changelist"),
            query,
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                f for f in self.fields if f not in {"id", "masked_connection_uri", "related_pages"}
            ]
        if not self.has_change_permission(request, obj):
            # The URI can only be replaced, never read: without the right to replace it,
            # there is nothing to show but the masked one.
            return [f for f in self.fields if f != "connection_uri"]
        return self.fields

    def save_model(self, request, obj, form, change):
        fields = ["alias", "dialect", "schema", "allow_execution"]
        data = {field: form.cleaned_data[field] for field in fields}
        data["metadata"] = form.cleaned_data["metadata"]
        if not change:
            adopt(
                obj,
                services.database_connection_create(
                    connection_uri=form.cleaned_data["connection_uri"], **data
                ),
            )
            return
        changes = {field: data[field] for field in form.changed_data if field in data}
        if form.cleaned_data["connection_uri"]:
            changes["connection_uri"] = form.cleaned_data["connection_uri"]
        services.database_connection_update(connection=obj, **changes)

    def get_deleted_objects(self, objs, request):
        """What a delete removes: the golden records; active jobs block it.

        The connection row itself stays (soft delete) and its jobs keep pointing at it, so
        Django's collector, which would list every job as protected, does not apply.
        """
        connections = list(objs)
        ids = [connection.pk for connection in connections]
        blocking = selectors.finetuning_active_of_connections(connection_ids=ids)
        protected = [f"Active fine-tuning job: {job}" for job in blocking[:50]]
        records = selectors.golden_record_list().filter(db_connection_id__in=ids).count()
        to_delete = [
            format_html("Database connection: {}", connection) for connection in connections
        ]
        model_count = {
            DatabaseConnection._meta.verbose_name_plural: len(connections),
            GoldenRecord._meta.verbose_name_plural: records,
        }
        return to_delete, model_count, set(), protected

    def delete_model(self, request, obj):
        services.database_connection_delete(connection=obj)

    def delete_queryset(self, request, queryset):
        for connection in queryset:
            services.database_connection_delete(connection=connection)


# --- Golden records ----------------------------------------------------------------------


class GoldenRecordForm(forms.ModelForm):
    class Meta:
        model = GoldenRecord
        fields = ["db_connection", "question", "sql", "metadata"]
        labels = {"db_connection": "Database connection", "sql": "SQL"}
        widgets = {
            "question": forms.Textarea(attrs={"rows": 3}),
            "sql": forms.Textarea(attrs={"class": "ft-code", "rows": 12, "spellcheck": "false"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "db_connection" in self.fields:
            self.fields["db_connection"].queryset = selectors.database_connection_list()

    def clean(self):
        cleaned = super().clean()
        connection, sql = cleaned.get("db_connection"), cleaned.get("sql")
        if connection is None and not self.instance._state.adding:
            connection = self.instance.db_connection  # read-only once the record exists
        if connection is not None and sql:
            for problem in validation.sql_problems(sql, connection.dialect):
                self.add_error("sql", problem)
        for problem in validation.metadata_problems(cleaned.get("metadata")):
            self.add_error("metadata", problem)
        return cleaned


@admin.register(GoldenRecord)
class GoldenRecordAdmin(RefuseNulCharactersMixin, ServiceRefusalsAsMessagesMixin, admin.ModelAdmin):
    form = GoldenRecordForm
    list_display = ["short_question", "sql_preview", "db_connection", "created_at"]
    list_filter = [ConnectionFilter]
    search_fields = ["question", "sql"]
    list_select_related = ["db_connection"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    autocomplete_fields = ["db_connection"]
    readonly_fields = ["id", "external_id", "created_at", "updated_at"]
    # Adds "Import from a file" and "Export to a file" (see finetunings.admin_io).
    change_list_template = "admin/finetunings/goldenrecord/change_list.html"

    class Media:
        css = {"all": ["finetunings/admin.css"]}

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/",
                wrap(lambda request: admin_io.import_view(self, request)),
                name="finetunings_goldenrecord_import",
            ),
            path(
                "export/",
                wrap(lambda request: admin_io.export_view(self, request)),
                name="finetunings_goldenrecord_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        can_import = self.has_add_permission(request) and self.has_change_permission(request)
        return super().changelist_view(
            request, extra_context={**(extra_context or {}), "can_import": can_import}
        )

    def get_queryset(self, request):
        return selectors.golden_record_list()

    @admin.display(description="question", ordering="question")
    def short_question(self, obj):
        return obj.question if len(obj.question) <= 120 else f"{obj.question[:119]}…"

    @admin.display(description="SQL")
    def sql_preview(self, obj):
        sql = obj.sql if len(obj.sql) <= 400 else f"{obj.sql[:399]}…"
        return format_html('<pre class="ft-code">{}</pre>', sql)

    def get_readonly_fields(self, request, obj=None):
        # A record never moves to another connection (see services.golden_record_update).
        if obj is not None:
            return [*self.readonly_fields, "db_connection"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in ["question", "sql", "metadata"]}
        if not change:
            data["db_connection_id"] = form.cleaned_data["db_connection"].pk
            (created,) = services.golden_records_create(records=[data])
            adopt(obj, created)
            return
        changes = {field: data[field] for field in form.changed_data if field in data}
        services.golden_record_update(golden_record=obj, **changes)

    def delete_model(self, request, obj):
        services.golden_record_delete(golden_record=obj)

    def delete_queryset(self, request, queryset):
        for golden_record in queryset:
            services.golden_record_delete(golden_record=golden_record)


# --- API keys ----------------------------------------------------------------------------


class RevokedFilter(ChoiceListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", "Live keys"), ("yes", "Revoked keys")]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(revoked_at__isnull=self.chosen() == "no")
        return queryset


class APIKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name"]


@admin.register(APIKey)
class APIKeyAdmin(RefuseNulCharactersMixin, ServiceRefusalsAsMessagesMixin, admin.ModelAdmin):
    """API keys: created here or with ``create_api_key``; the hash is never shown."""

    form = APIKeyForm
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked", "created_by"]
    list_filter = [RevokedFilter]
    search_fields = ["name", "=prefix"]
    list_select_related = ["created_by"]
    ordering = ["-created_at"]
    actions = ["revoke_api_keys"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at", "created_by"]

    @admin.display(description="revoked", boolean=True, ordering="revoked_at")
    def revoked(self, obj):
        return obj.revoked_at is not None

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        # A key's name is fixed once issued; there is nothing else to edit but revocation.
        return ["name", *self.readonly_fields] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: a revoked key keeps its row, so its use remains explained.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable on an existing key
        api_key, raw_key = services.api_key_create(
            name=form.cleaned_data["name"], created_by=request.user
        )
        adopt(obj, api_key)
        self.message_user(
            request, API_KEY_CREATED.format(name=api_key.name, raw_key=raw_key), messages.SUCCESS
        )

    @admin.action(
        permissions=["change"],
        description="Revoke this %(verbose_name)s",
        description_plural="Revoke selected %(verbose_name_plural)s",
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def revoke_api_keys(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for api_key in keys:
            services.api_key_revoke(api_key=api_key)
            self.log_change(request, api_key, "Revoked the API key.")
        self.message_user(request, API_KEY_REVOKED.format(count=len(keys)), messages.SUCCESS)


admin.site.site_header = "Fine-tuning jobs administration"
admin.site.site_title = "Fine-tuning jobs"
admin.site.index_title = "Jobs, connections, golden records and API keys"
# "View site" leads to the API's interactive documentation: the service has no other site.
admin.site.site_url = reverse_lazy("api:docs")


# Webhook endpoints and their delivery log live in their own module.
from finetunings import admin_notifications  # noqa: E402, F401
