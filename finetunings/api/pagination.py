from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class CreatedAtCursorPagination(CursorPagination):
    """Newest first, ``limit`` items a page, with ``next``/``previous`` links.

    A cursor keeps pages stable while jobs are being created, and costs the same on the
    millionth page as on the first (no OFFSET, no COUNT).
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def get_page_size(self, request):
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        try:
            # One number: ``?limit=5&limit=9`` is no page size (Django would take the last).
            (limit,) = (int(raw) for raw in given)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_page_size:
            raise exceptions.ValidationError(
                {"limit": [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return limit

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Items per page, 1 to {self.max_page_size}."
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (exceptions.NotFound, DjangoValidationError, ValueError, OverflowError):
            # DRF answers 404 for a cursor it cannot decode, and a hand-made cursor whose
            # position is not a timestamp fails in the query; either is a bad parameter.
            raise exceptions.ValidationError(
                {"cursor": ["Invalid cursor: use the next or previous link as given."]}
            ) from None


class OldestFirstCursorPagination(CreatedAtCursorPagination):
    ordering = ("created_at", "provider_sequence", "id")


class StepCursorPagination(CreatedAtCursorPagination):
    """A job's training metrics, first step first."""

    ordering = ("step",)
    page_size = 100
    max_page_size = 1000
