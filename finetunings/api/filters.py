import datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from finetunings.errors import ErrorCode
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
            raise forms.ValidationError(
                "The date is out of range.", code=ErrorCode.VALIDATION
            ) from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class FilterSet(django_filters.FilterSet):
    """A filter set that refuses an empty value where the schema documents a format.

    ``?created_after=`` or ``?dialect=`` would otherwise be ignored, though an empty string
    is no date-time and no dialect: one rule, a 400, for every such parameter.
    """

    FORMATTED = (
        django_filters.ChoiceFilter,
        django_filters.MultipleChoiceFilter,
        django_filters.IsoDateTimeFilter,
    )

    def _empty_formatted_values(self) -> dict[str, list[str]]:
        getlist = getattr(self.data, "getlist", lambda name: [self.data.get(name)])
        return {
            name: ["Must not be empty: leave the parameter out to not filter by it."]
            for name, filter_ in self.filters.items()
            if isinstance(filter_, self.FORMATTED)
            and name in self.data
            and any(value == "" for value in getlist(name))
        }

    def is_valid(self):
        super().is_valid()
        for name, messages in self._empty_formatted_values().items():
            if name not in self.form.errors:
                self.form.add_error(name, messages)
        return not self.form.errors


class DatabaseConnectionFilter(FilterSet):
    dialect = django_filters.ChoiceFilter(choices=Dialect.choices)

    class Meta:
        model = DatabaseConnection
        fields = ["dialect"]


class GoldenRecordFilter(FilterSet):
    db_connection_id = django_filters.CharFilter(field_name="db_connection_id")
    search = django_filters.CharFilter(
        field_name="question", lookup_expr="icontains", help_text="Text in the question."
    )

    class Meta:
        model = GoldenRecord
        fields = ["db_connection_id", "search"]


class FinetuningFilter(FilterSet):
    db_connection_id = django_filters.CharFilter(field_name="db_connection_id")
    # distinct=False: ``status IN (...)`` on the job's own column cannot repeat a row, and
    # django-filter's default SELECT DISTINCT over every column costs ~10x on a large table.
    status = django_filters.MultipleChoiceFilter(
        choices=FinetuningStatus.choices,
        distinct=False,
        help_text="Repeat to match any of several statuses.",
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
