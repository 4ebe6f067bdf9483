import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from finetunings.models import (
    DatabaseConnection,
    Dialect,
    Finetuning,
    FinetuningStatus,
    GoldenRecord,
)


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 timestamp, in UTC: databases refuse odd offsets (PostgreSQL: +18:00)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError("The date is out of range.", code="invalid") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class DatabaseConnectionFilter(django_filters.FilterSet):
    dialect = django_filters.ChoiceFilter(choices=Dialect.choices)

    class Meta:
        model = DatabaseConnection
        fields = ["dialect"]


class GoldenRecordFilter(django_filters.FilterSet):
    db_connection_id = django_filters.CharFilter(field_name="db_connection_id")
    search = django_filters.CharFilter(
        field_name="question", lookup_expr="icontains", help_text="Text in the question."
    )

    class Meta:
        model = GoldenRecord
        fields = ["db_connection_id", "search"]


class FinetuningFilter(django_filters.FilterSet):
    db_connection_id = django_filters.CharFilter(field_name="db_connection_id")
    status = django_filters.MultipleChoiceFilter(
        choices=FinetuningStatus.choices, help_text="Repeat to match any of several statuses."
    )
    model_provider = django_filters.CharFilter()
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601, inclusive."
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601, exclusive."
    )

    class Meta:
        model = Finetuning
        fields = ["db_connection_id", "status", "model_provider", "created_after", "created_before"]
