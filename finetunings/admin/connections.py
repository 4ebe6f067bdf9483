"""Database connections: the URI is write-only (stored encrypted, shown masked), and a
delete is soft: it removes the golden records and keeps the jobs, unless one is active."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from finetunings import selectors, services, validation
from finetunings.admin.mixins import AppAdminMixin, LargeChangeListMixin, MetadataFieldMixin, adopt
from finetunings.models import DatabaseConnection, GoldenRecord

CONNECTION_ALIAS_TAKEN = "A database connection with this alias already exists."


class DatabaseConnectionForm(MetadataFieldMixin, forms.ModelForm):
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


@admin.register(DatabaseConnection)
class DatabaseConnectionAdmin(AppAdminMixin, LargeChangeListMixin, admin.ModelAdmin):
    form = DatabaseConnectionForm
    list_display = ["alias", "dialect", "masked_connection_uri", "created_at"]
    list_filter = ["dialect"]
    search_fields = ["alias"]
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
