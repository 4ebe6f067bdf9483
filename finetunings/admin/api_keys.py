"""API keys: created here or with ``create_api_key``; the hash is never shown, keys are
revoked rather than deleted."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation

from finetunings import services
from finetunings.admin.filters import RevokedFilter
from finetunings.admin.mixins import AppAdminMixin, adopt
from finetunings.models import APIKey

API_KEY_CREATED = (
    "The API key “{name}” was created. Copy it now, it will not be shown again: {raw_key}"
)
API_KEY_REVOKED = "Revoked {count} API key(s)."


class APIKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name"]


@admin.register(APIKey)
class APIKeyAdmin(AppAdminMixin, admin.ModelAdmin):
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
