from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import routers
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from finetunings.api import notification_views, views, webhooks
from finetunings.api.views import evaluations as evaluation_views


class OptionalSlashRouter(DefaultRouter):
    """Routes that answer with and without a trailing slash (the seed uses none).

    Matching both forms directly, rather than redirecting with APPEND_SLASH, keeps POST
    bodies intact.

    No format suffixes (``/finetunings/{id}/events.json``): the response type is chosen by
    ``Accept``, and a suffix route would call the custom actions with a ``format`` argument
    they do not take. One way to ask for a format, on every route.
    """

    include_format_suffixes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"


class FinetuningAPIRootView(routers.APIRootView):
    """Keeps the fine-tuning jobs of a natural-language-to-SQL product.

    Store database connections and golden records (a question and the SQL that answers it),
    start fine-tuning jobs from them, follow each job to its fine-tuned model, and cancel the
    ones you no longer want. Authenticate with `Authorization: Bearer <api key>`, or log in
    with a staff account (top right) to use these pages. Interactive docs: /api/v1/docs.
    """

    # Only a list of links and what the API is: shown to everyone, so a newcomer who is not
    # logged in yet learns where they are and how to log in (not a bare 401).
    permission_classes = [AllowAny]

    def get_view_name(self):
        return "Fine-tuning jobs API"


OptionalSlashRouter.APIRootView = FinetuningAPIRootView

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
    *evaluation_views.urlpatterns,
    *router.urls,
]
