"""Golden records: edited through their services; import and export pages on the same ones."""

from django import forms
from django.contrib import admin
from django.urls import path
from django.utils.html import format_html

from finetunings import selectors, services, validation
from finetunings.admin import golden_record_files
from finetunings.admin.filters import ConnectionFilter
from finetunings.admin.mixins import (
    AppAdminMixin,
    LargeChangeListMixin,
    MetadataFieldMixin,
    adopt,
)
from finetunings.models import GoldenRecord


class GoldenRecordForm(MetadataFieldMixin, forms.ModelForm):
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
        return cleaned


@admin.register(GoldenRecord)
class GoldenRecordAdmin(AppAdminMixin, LargeChangeListMixin, admin.ModelAdmin):
    form = GoldenRecordForm
    list_display = ["short_question", "sql_preview", "db_connection", "created_at"]
    list_filter = [ConnectionFilter]
    search_fields = ["question", "sql"]
    list_select_related = ["db_connection"]
    autocomplete_fields = ["db_connection"]
    readonly_fields = ["id", "external_id", "created_at", "updated_at"]
    # Adds "Import from a file" and "Export to a file" (see finetunings.admin.golden_record_files).
    change_list_template = "admin/finetunings/goldenrecord/change_list.html"

    class Media:
        css = {"all": ["finetunings/admin.css"]}

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/",
                wrap(lambda request: golden_record_files.import_view(self, request)),
                name="finetunings_goldenrecord_import",
            ),
            path(
                "export/",
                wrap(lambda request: golden_record_files.export_view(self, request)),
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
