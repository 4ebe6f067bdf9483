"""The admin's golden-record import and export pages, on the API's services.

Kept apart from the golden records' admin (which only routes to these views) so that the
pages for files read as one piece: a form, the service call, and where the user lands after.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from finetunings import errors, golden_record_io, selectors

IMPORT_DONE = "Imported {file}: {created} golden records added, {updated} updated."
IMPORT_REFUSED = "Nothing was imported: {count} problem(s) in the file, listed below."
FORMAT_CHOICES = [("", "From the file name"), ("csv", "CSV"), ("jsonl", "JSON Lines")]
EXPORT_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


class ImportForm(forms.Form):
    db_connection = forms.ModelChoiceField(
        queryset=selectors.database_connection_list(),
        label="Database connection",
        help_text="Every row goes to this connection (rows' own db_connection_id are ignored).",
    )
    file = forms.FileField(
        help_text="CSV with a header row, or JSON Lines; columns question (or prompt_text), "
        "sql, and optionally metadata and external_id (or id). Up to 100,000 rows."
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)


class ExportForm(forms.Form):
    db_connection = forms.ModelChoiceField(
        queryset=selectors.database_connection_list(), label="Database connection"
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES[1:], initial="csv")


def _page(model_admin, request, template, title, **context):
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            **context,
        },
    )


def import_view(model_admin, request):
    if not (model_admin.has_add_permission(request) and model_admin.has_change_permission(request)):
        raise PermissionDenied
    problems: list[str] = []
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            done, problems = _import(request, form)
            if done is not None:
                return done
    else:
        form = ImportForm(initial={"db_connection": request.GET.get("db_connection")})
    return _page(
        model_admin,
        request,
        "admin/finetunings/goldenrecord/import.html",
        "Import golden records",
        form=form,
        problems=problems,
    )


def _import(request, form) -> tuple[HttpResponseRedirect | None, list[str]]:
    """Import a valid form's file: the redirect to the imported records, or the problems."""
    upload = form.cleaned_data["file"]
    connection = form.cleaned_data["db_connection"]
    file_format = golden_record_io.file_format(
        requested=form.cleaned_data["format"],
        filename=upload.name,
        content_type=upload.content_type,
    )
    if file_format is None:
        form.add_error("format", "Choose CSV or JSON Lines: the file's name says neither.")
        return None, []
    try:
        result = golden_record_io.golden_records_import(
            file=upload, file_format=file_format, db_connection_id=connection.pk
        )
    except errors.ValidationFailed as exc:
        problems = [
            f"{where}: {message}"
            for where, messages_ in exc.errors.items()
            for message in messages_
        ]
        messages.error(request, IMPORT_REFUSED.format(count=len(problems)))
        return None, problems
    messages.success(
        request,
        IMPORT_DONE.format(file=upload.name, created=result.created, updated=result.updated),
    )
    changelist = reverse("admin:finetunings_goldenrecord_changelist")
    return HttpResponseRedirect(f"{changelist}?{urlencode({'db_connection': connection.pk})}"), []


def export_view(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = ExportForm(request.GET or None, initial={"format": "csv"})
    if request.GET and form.is_valid():
        connection = form.cleaned_data["db_connection"]
        file_format = form.cleaned_data["format"]
        response = StreamingHttpResponse(
            golden_record_io.golden_records_export(connection=connection, file_format=file_format),
            content_type=EXPORT_CONTENT_TYPES[file_format],
        )
        filename = f"golden-records-{connection.pk}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return _page(
        model_admin,
        request,
        "admin/finetunings/goldenrecord/export.html",
        "Export golden records",
        form=form,
    )
