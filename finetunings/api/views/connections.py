"""The database connections' viewset."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from finetunings import selectors, services
from finetunings.api import filters, serializers
from finetunings.api.views.common import (
    FriendlyNotFoundMixin,
    IdempotentCreateMixin,
    changed,
    created,
    deleted,
    listed,
    shown,
)


@extend_schema_view(
    list=extend_schema(responses=listed(serializers.DatabaseConnectionSerializer)),
    create=extend_schema(responses=created(serializers.DatabaseConnectionSerializer)),
    retrieve=extend_schema(responses=shown(serializers.DatabaseConnectionSerializer)),
    update=extend_schema(
        description="Replace the connection's fields; connection_uri may be left out to keep "
        "the stored one.",
        request=serializers.DatabaseConnectionUpdateSerializer,
        responses=changed(serializers.DatabaseConnectionSerializer),
    ),
    partial_update=extend_schema(
        request=serializers.DatabaseConnectionUpdateSerializer,
        responses=changed(serializers.DatabaseConnectionSerializer),
    ),
    destroy=extend_schema(responses=deleted("The connection has active fine-tuning jobs.")),
)
class DatabaseConnectionViewSet(
    IdempotentCreateMixin, FriendlyNotFoundMixin, viewsets.ModelViewSet
):
    """Databases whose questions fine-tuned models will answer."""

    queryset = selectors.database_connection_list()
    serializer_class = serializers.DatabaseConnectionSerializer
    filterset_class = filters.DatabaseConnectionFilter

    def get_serializer_class(self):
        if self.action in {"update", "partial_update"}:
            return serializers.DatabaseConnectionUpdateSerializer
        return super().get_serializer_class()

    def browsable_example(self):
        if self.action != "create":
            return None
        return {
            "alias": "my_database",
            "dialect": "postgresql",
            "connection_uri": "postgresql://reader:password@db.example.com:5432/shop",
            "schema": "CREATE TABLE orders (id integer, customer text, total numeric);",
        }

    def perform_create(self, serializer):
        serializer.instance = services.database_connection_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.database_connection_update(
            connection=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.database_connection_delete(connection=instance)
