"""The admin's webhook endpoints and delivery log, on ``finetunings.notifications``."""

from django import forms
from django.contrib import admin, messages

from finetunings import notifications
from finetunings.admin.mixins import adopt
from finetunings.models import WebhookDelivery, WebhookEndpoint, WebhookEventType

ENDPOINT_CREATED = (
    "The webhook endpoint was registered. Copy its signing secret now, it will not be shown "
    "again: {secret}"
)
REDELIVERY_QUEUED = "{count} deliveries queued to be sent again at the worker's next pass."


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WebhookEventType.values,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "active", "description"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        for problem in notifications.url_problems(url):
            self.add_error("url", problem)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "events", "active", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["id", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in WebhookEndpointForm.Meta.fields}
        if change:
            notifications.webhook_endpoint_update(endpoint=obj, **fields)
            return
        endpoint, secret = notifications.webhook_endpoint_create(**fields)
        adopt(obj, endpoint)
        self.message_user(request, ENDPOINT_CREATED.format(secret=secret), messages.WARNING)

    def delete_model(self, request, obj):
        notifications.webhook_endpoint_delete(endpoint=obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, with a redeliver action."""

    list_display = [
        "event_type",
        "finetuning",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["finetuning", "endpoint"]
    search_fields = ["=finetuning__id", "=message_id"]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False  # deliveries come from jobs that end

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)  # only the action

    @admin.action(description="Send the selected deliveries again", permissions=["change"])
    def redeliver(self, request, queryset):
        for delivery in queryset:
            notifications.webhook_delivery_redeliver(delivery=delivery)
        self.message_user(request, REDELIVERY_QUEUED.format(count=queryset.count()))
