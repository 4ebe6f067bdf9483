from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from finetunings.api import notification_views, views, webhooks


class OptionalSlashRouter(DefaultRouter):
    """Routes that answer with and without a trailing slash (the seed uses none).

    Matching both forms directly, rather than redirecting with APPEND_SLASH, keeps POST
    bodies intact.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("database-connections", views.DatabaseConnectionViewSet, "database-connection")
router.register("golden-records", views.GoldenRecordViewSet, "golden-record")
router.register("finetunings", views.FinetuningViewSet, "finetuning")
router.register("webhook-endpoints", notification_views.WebhookEndpointViewSet, "webhook-endpoint")
router.register("webhook-deliveries", notification_views.WebhookDeliveryViewSet, "webhook-delivery")

urlpatterns = [
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^webhooks/openai/?$", webhooks.OpenAIWebhookView.as_view(), name="webhook-openai"),
    *router.urls,
]
