"""What the job admin shows of a job: the change list's columns and the page's read-only
fields. Fields that change while a job runs are "live": the page swaps them in place (see
``finetunings.admin.live``), so each one renders inside an element named after it.
"""

import html
import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from finetunings import selectors
from finetunings.admin import training
from finetunings.admin.timeline import timeline_html
from finetunings.models import FinetuningStatus

# get_status_display() builds this mapping anew on each call, that is on each row.
STATUS_LABELS = dict(FinetuningStatus.choices)


def live(description: str):
    """A read-only field of the job page that the page refreshes while the job is active."""

    def wrap(method):
        name = method.__name__

        def field(self, obj):
            return format_html('<div data-ft-live="{}">{}</div>', name, method(self, obj))

        field.__name__ = name
        field.live = True
        return admin.display(description=description)(field)

    return wrap


def status_badge_html(obj) -> str:
    # Written out rather than through format_html (or mark_safe), whose lazy-argument checks
    # cost more than the badge itself on each row of the list.
    return SafeString(
        f'<span class="ft-badge ft-badge-{html.escape(obj.status)}">'
        f"{html.escape(STATUS_LABELS.get(obj.status, obj.status))}</span>"
    )


class JobColumnsMixin:
    """The change list's columns, each from the row itself or the list's annotations.

    They run once per row (50 a page), so their HTML is written out with ``html.escape``
    rather than ``format_html``, as the badge is; the markup is the same.
    """

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge_html(obj)

    @admin.display(
        description="connection, base model, provider ids", ordering="db_connection__alias"
    )
    def where_it_runs(self, obj):
        # One column for what a list is rarely sorted by: the list then fits a 1400 px window.
        escape = html.escape
        ids = "".join(
            f'<br><span class="ft-id">{escape(value)}</span>'
            for value in (obj.finetuning_job_id, obj.finetuning_file_id)
            if value
        )
        return SafeString(
            f"{escape(obj.db_connection.alias)}<br>"
            f'<span class="ft-quiet">{escape(obj.model_provider)} / {escape(obj.model_name)}</span>'
            f"{ids}"
        )

    @admin.display(description="fine-tuned model", empty_value="-")
    def fine_tuned_model(self, obj):
        return obj.model_id

    @admin.display(description="progress", empty_value="-")
    def progress_column(self, obj):
        progress = selectors.finetuning_progress(obj)
        if progress is None or progress["percent"] is None:
            return None
        return f"{progress['percent']:g} %"


class JobPageFieldsMixin:
    """The change page's read-only fields that are more than the model's own values."""

    # How much of a job's long lists its change page shows; the API serves all of it.
    timeline_events_shown = 50
    timeline_data_chars = 600
    golden_record_ids_shown = 20

    @live("status")
    def live_status(self, obj):
        # The reason a job waits is the first thing staff ask about a queued job, so it
        # stands next to the status rather than among the worker's fields.
        reason = obj.status_message or ""
        return format_html(
            '{} <span class="ft-quiet">{}</span>',
            status_badge_html(obj),
            f"(provider: {obj.provider_status}) {reason}" if obj.provider_status else reason,
        )

    @live("progress")
    def training_progress(self, obj):
        return training.progress_html(obj)

    @live("estimated finish")
    def training_eta(self, obj):
        return training.eta_html(obj)

    @live("elapsed")
    def training_elapsed(self, obj):
        return training.elapsed_html(obj)

    @live("trained tokens")
    def training_tokens(self, obj):
        return "-" if obj.trained_tokens is None else f"{obj.trained_tokens:,}"

    @live("fine-tuned model")
    def model_id_with_copy(self, obj):
        return training.model_id_html(obj.model_id)

    @live("loss by step")
    def loss_chart(self, obj):
        return training.loss_chart_html(obj)

    @live("checkpoints")
    def checkpoint_table(self, obj):
        return training.checkpoints_html(obj)

    @live("timeline")
    def timeline(self, obj):
        return timeline_html(
            obj, shown=self.timeline_events_shown, data_chars=self.timeline_data_chars
        )

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
        shown = ", ".join(ids[: self.golden_record_ids_shown])
        hidden = len(ids) - self.golden_record_ids_shown
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
        return _key_value_lines(obj.training_summary)

    @admin.display(description="hyperparameters (as the provider resolved them)")
    def resolved_hyperparameters(self, obj):
        return _key_value_lines(obj.provider_hyperparameters)


def _key_value_lines(mapping) -> str:
    if not mapping:
        return "-"
    return format_html_join(
        mark_safe("<br>"),
        "{}: {}",
        (
            (key, value if isinstance(value, str) else json.dumps(value))
            for key, value in mapping.items()
        ),
    )
