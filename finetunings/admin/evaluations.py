"""The admin of evaluations: the summary in one sentence, and every record's answers.

Read-only: an evaluation is the worker's record of what the models answered. Staff start
one from the job list (the "Evaluate" action, through ``evaluation_create``), cancel a
running one with the button on its page (``evaluation_cancel``), and read on the job's
page the summary that ``evaluation_summary_html`` renders (``JobEvaluationMixin``).
"""

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from finetunings import errors, selectors, services
from finetunings.evaluation import report
from finetunings.models import EVALUATION_LIFECYCLE_FIELDS, Evaluation

CANCEL_PERMISSION = "finetunings.cancel_finetuning"
STARTED_MESSAGE = "Evaluation {id} of {job} is queued; the worker will run it."


def _percent(value) -> str:
    return "-" if value is None else f"{value:g}%"


def _figures_table(summary: dict) -> str:
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>",
        (
            (
                figures["model"],
                figures["role"].replace("_", "-"),
                _percent(figures["execution_accuracy"]),
                _percent(figures["exact_match_accuracy"]),
                ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures["outcomes"].items() if v)
                or "-",
                figures["tokens"]["total"],
                figures["answered"],
            )
            for figures in summary["models"]
        ),
    )
    return format_html(
        '<table class="ft-evaluation-figures"><thead><tr><th>model</th><th>role</th>'
        "<th>execution accuracy</th><th>exact match</th><th>outcomes</th><th>tokens</th>"
        "<th>answered</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def summary_html(evaluation: Evaluation) -> str:
    """The headline and the per-model table of a finished evaluation (else its status)."""
    if not evaluation.summary:
        return format_html(
            "{} ({} of {} answers)",
            evaluation.status_message or evaluation.get_status_display(),
            evaluation.answered_count,
            evaluation.total_answers,
        )
    return format_html(
        '<p class="ft-evaluation-headline"><strong>{}</strong></p>{}',
        evaluation.summary["headline"],
        _figures_table(evaluation.summary),
    )


def evaluation_summary_html(finetuning) -> str:
    """For the job's page: its latest succeeded evaluation, and a link to all of them."""
    summary = selectors.finetuning_latest_evaluation(finetuning)
    listing = (
        reverse("admin:finetunings_evaluation_changelist")
        + f"?finetuning__id__exact={finetuning.pk}"
    )
    if summary is None:
        return format_html('No evaluation has finished. <a href="{}">Evaluations</a>', listing)
    page = reverse("admin:finetunings_evaluation_change", args=[summary["evaluation_id"]])
    return format_html(
        '<p class="ft-evaluation-headline"><strong>{}</strong></p>{}'
        '<p><a href="{}">Answers, record by record</a> · <a href="{}">All evaluations</a></p>',
        summary["headline"],
        _figures_table(summary),
        page,
        listing,
    )


class JobEvaluationMixin:
    """The job page's "Evaluation" part: its latest evaluation's summary (not live: only a
    succeeded job has evaluations, and a finished job's page does not refresh itself)."""

    @admin.display(description="latest evaluation")
    def evaluation_summary(self, obj):
        return evaluation_summary_html(obj)

    def has_evaluate_permission(self, request, obj=None) -> bool:
        """Who may start an evaluation (the list's action and the job page's button)."""
        return request.user.has_perm("finetunings.add_evaluation")


EVALUATE_ACTION = "start_evaluation_action"


@admin.action(
    description="Evaluate the selected jobs (fine-tuned vs base model)",
    permissions=["evaluate"],
    location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
)
def start_evaluation_action(modeladmin, request, queryset):
    """Queue one evaluation per job, with the defaults: the job list's selected jobs, or the
    job of the page whose "Evaluate" button was pressed (which then shows again)."""
    for finetuning in queryset:
        try:
            evaluation = services.evaluation_create(
                finetuning=finetuning, actor=f"staff user {request.user.get_username()}"
            )
        except errors.ValidationFailed as exc:
            problems = "; ".join(m for messages_ in exc.errors.values() for m in messages_)
            modeladmin.message_user(request, f"{finetuning}: {problems}", messages.ERROR)
            continue
        modeladmin.message_user(
            request, STARTED_MESSAGE.format(id=evaluation.pk, job=finetuning), messages.SUCCESS
        )


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["id", "finetuning", "status", "headline", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["finetuning"]
    search_fields = ["id", "finetuning__id", "finetuning__alias"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    fields = [
        "id",
        "finetuning",
        "status",
        "status_message",
        "error",
        "summary_block",
        *EVALUATION_LIFECYCLE_FIELDS,
    ]
    readonly_fields = fields
    change_form_template = "admin/finetunings/evaluation/change_form.html"

    @admin.display(description="result")
    def headline(self, obj):
        if obj.summary:
            return obj.summary["headline"]
        return f"{obj.answered_count} of {obj.total_answers} answers"

    @admin.display(description="summary")
    def summary_block(self, obj):
        return summary_html(obj)

    def has_add_permission(self, request):
        return False  # started from a job (the job list's action, or the API)

    def has_delete_permission(self, request, obj=None):
        return False  # every evaluation is kept; cancel stops one

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        cancel = self.admin_site.admin_view(self.cancel_view)
        return [
            path("<str:object_id>/cancel/", cancel, name="finetunings_evaluation_cancel"),
            *super().get_urls(),
        ]

    def cancel_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:finetunings_evaluation_change", args=[object_id])
            )
        if not request.user.has_perms(["finetunings.view_evaluation", CANCEL_PERMISSION]):
            raise PermissionDenied
        evaluation = get_object_or_404(Evaluation, pk=object_id)
        try:
            services.evaluation_cancel(
                evaluation=evaluation, actor=f"staff user {request.user.get_username()}"
            )
            self.message_user(request, "The evaluation is cancelled.", messages.SUCCESS)
        except errors.EvaluationNotCancellable as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(
            reverse("admin:finetunings_evaluation_change", args=[object_id])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        evaluation = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if evaluation is not None:
            extra.update(self._records_context(request, evaluation))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _records_context(self, request, evaluation) -> dict:
        records = selectors.evaluation_records(evaluation=evaluation)
        model_ids = evaluation.model_ids
        disagreeing = report.disagreements(records, model_ids)
        only_disagreements = request.GET.get("disagree") == "1"
        shown = disagreeing if only_disagreements else records
        rows = [
            {"record": record, "answers": [record.answers_by_model.get(m) for m in model_ids]}
            for record in shown
        ]
        return {
            "evaluation_models": evaluation.evaluated_models,
            "evaluation_rows": rows,
            "record_total": len(records),
            "disagreement_total": len(disagreeing),
            "only_disagreements": only_disagreements,
            "can_cancel": evaluation.is_active
            and request.user.has_perms(["finetunings.view_evaluation", CANCEL_PERMISSION]),
            "cancel_url": reverse("admin:finetunings_evaluation_cancel", args=[evaluation.pk]),
        }
