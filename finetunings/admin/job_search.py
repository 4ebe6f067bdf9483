"""The admin's job list at scale: searches that use indexes, and no count of the table.

Django's ``=field`` search compares ``UPPER(field) = UPPER(term)``, which no plain index
serves, and its paginator counts every row the list could show. Here ids are compared as
they are stored (each id column has an index), an alias is found through a trigram index
on PostgreSQL (on SQLite, by its beginning), and the unfiltered list's size is
PostgreSQL's own estimate, any other capped.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property

ID_FIELDS = ("id", "finetuning_job_id", "finetuning_file_id", "model_id")

# A page count past this many jobs helps nobody; counting them costs a scan.
COUNT_CAP = 10_000


def job_search(queryset, term: str):
    """Jobs whose id (ours or the provider's) is ``term``, or whose alias holds it."""
    term = term.strip()
    if not term:
        return queryset
    matches = Q()
    for field in ID_FIELDS:
        matches |= Q(**{field: term})
    if connections[queryset.db].vendor == "postgresql":
        matches |= Q(alias__icontains=term)  # the ft_alias_trigram index
    else:
        matches |= Q(alias__istartswith=term)
    return queryset.filter(matches)


class JobSearchMixin:
    search_fields = ["alias"]  # for Django to show the search box; the search is job_search
    search_help_text = "An exact job, provider job, file or model id, or a part of the alias."

    def get_search_results(self, request, queryset, search_term):
        return job_search(queryset, search_term), False


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole table.

    Unfiltered on PostgreSQL, the planner's row estimate (``pg_class.reltuples``);
    otherwise a count that stops at ``COUNT_CAP`` rows.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where and connections[queryset.db].vendor == "postgresql":
            estimate = _estimated_rows(queryset)
            if estimate is not None:
                return estimate
        # Only the key: the list's annotations (each a subquery) would be compiled and sent
        # along for nothing.
        return queryset.order_by().values("pk")[:COUNT_CAP].count()


def _estimated_rows(queryset) -> int | None:
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1: never analysed; then, and for a tiny table, the capped count is as cheap.
    return row[0] if row and row[0] >= COUNT_CAP else None
