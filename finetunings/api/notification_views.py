"""Webhook endpoints (where to tell that a job ended) and their delivery log."""

from http import HTTPStatus

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from finetunings import notifications
from finetunings.api.filters import FilterSet
from finetunings.api.idempotency import IDEMPOTENCY_RESPONSES, idempotent
from finetunings.api.serializers import (
    ErrorSerializer,
    StrictCharField,
    ValidationErrorSerializer,
)
from finetunings.api.views.common import AUTH_ERRORS, BAD_REQUEST, NOT_FOUND, FriendlyNotFoundMixin
from finetunings.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="http(s) URL that receives the events.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.values),
        required=False,
        help_text="Events to send; all of them by default.",
    )
    active = serializers.BooleanField(required=False, default=True)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "active", "description", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_...), shown only in this answer: keep it to "
        "verify the webhook-signature header.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.CharField(read_only=True)
    finetuning_id = serializers.CharField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "finetuning_id",
            "event_type",
            "message_id",
            "status",
            "attempts",
            "last_response_code",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "payload",
        ]


class WebhookDeliveryFilter(FilterSet):
    endpoint_id = django_filters.CharFilter(field_name="endpoint_id")
    finetuning_id = django_filters.CharFilter(field_name="finetuning_id")
    status = django_filters.ChoiceFilter(choices=WebhookDeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint_id", "finetuning_id", "status"]


@extend_schema_view(
    list=extend_schema(responses={200: WebhookEndpointSerializer, **BAD_REQUEST, **AUTH_ERRORS}),
    create=extend_schema(
        description="Register a URL to be told when jobs end (succeeded, failed, cancelled). "
        "Messages are signed the Standard Webhooks way with the secret in this answer.",
        request=WebhookEndpointSerializer,
        responses={
            201: WebhookEndpointCreatedSerializer,
            **BAD_REQUEST,
            **AUTH_ERRORS,
            **IDEMPOTENCY_RESPONSES,
        },
    ),
    retrieve=extend_schema(responses={200: WebhookEndpointSerializer, **NOT_FOUND, **AUTH_ERRORS}),
    update=extend_schema(
        responses={200: WebhookEndpointSerializer, **BAD_REQUEST, **NOT_FOUND, **AUTH_ERRORS}
    ),
    partial_update=extend_schema(
        responses={200: WebhookEndpointSerializer, **BAD_REQUEST, **NOT_FOUND, **AUTH_ERRORS}
    ),
    destroy=extend_schema(responses={204: None, **NOT_FOUND, **AUTH_ERRORS}),
)
class WebhookEndpointViewSet(FriendlyNotFoundMixin, viewsets.ModelViewSet):
    """Where to send a notification when a fine-tuning job ends."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    filterset_class = None

    @idempotent(atomic=True)
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = notifications.webhook_endpoint_create(**serializer.validated_data)
        return Response(
            {**WebhookEndpointSerializer(endpoint).data, "secret": secret},
            status=HTTPStatus.CREATED,
        )

    def perform_update(self, serializer):
        serializer.instance = notifications.webhook_endpoint_update(
            endpoint=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        notifications.webhook_endpoint_delete(endpoint=instance)


@extend_schema_view(
    list=extend_schema(responses={200: WebhookDeliverySerializer, **BAD_REQUEST, **AUTH_ERRORS}),
    retrieve=extend_schema(responses={200: WebhookDeliverySerializer, **NOT_FOUND, **AUTH_ERRORS}),
)
class WebhookDeliveryViewSet(
    FriendlyNotFoundMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The delivery log: each event sent to each endpoint, with its attempts and answers."""

    queryset = WebhookDelivery.objects.all()
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter

    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        summary="Send a delivery again",
        description="Puts the delivery back in the queue (same message id, attempts from "
        "zero); the worker sends it at its next pass.",
        request=None,
        responses={
            200: WebhookDeliverySerializer,
            **AUTH_ERRORS,
            **NOT_FOUND,
            HTTPStatus.UNPROCESSABLE_ENTITY: OpenApiResponse(
                ErrorSerializer, description="Idempotency-Key reused for another request."
            ),
            HTTPStatus.BAD_REQUEST: OpenApiResponse(ValidationErrorSerializer),
        },
    )
    @idempotent(atomic=True)
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = notifications.webhook_delivery_redeliver(delivery=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data)
