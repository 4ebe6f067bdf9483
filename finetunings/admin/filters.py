"""Change-list filters that cost no scan of the filtered table and ignore values not offered."""

from django.conf import settings
from django.contrib import admin

from finetunings import selectors
from finetunings.models import DatabaseConnection


class ChoiceListFilter(admin.SimpleListFilter):
    """A filter that ignores values it does not offer, rather than querying with them."""

    def chosen(self) -> str | None:
        value = self.value()
        return value if value in {str(key) for key, _label in self.lookup_choices} else None


class ProviderFilter(ChoiceListFilter):
    """Providers from settings, so the filter costs no DISTINCT over the jobs table."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(name, name) for name in settings.FINETUNING_PROVIDERS]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(model_provider=self.chosen())
        return queryset


class ConnectionFilter(ChoiceListFilter):
    """Filter by database connection; only live ones are offered for golden records."""

    title = "database connection"
    parameter_name = "db_connection"
    include_deleted = False

    def lookups(self, request, model_admin):
        connections = (
            DatabaseConnection.objects.all()
            if self.include_deleted
            else selectors.database_connection_list()
        )
        return [
            (pk, f"{alias} (deleted)" if deleted_at else alias)
            for pk, alias, deleted_at in connections.order_by("alias").values_list(
                "pk", "alias", "deleted_at"
            )
        ]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(db_connection_id=self.chosen())
        return queryset


class AnyConnectionFilter(ConnectionFilter):
    # Jobs outlive their connection, so a deleted connection still filters its jobs.
    include_deleted = True


class RevokedFilter(ChoiceListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", "Live keys"), ("yes", "Revoked keys")]

    def queryset(self, request, queryset):
        if self.chosen():
            return queryset.filter(revoked_at__isnull=self.chosen() == "no")
        return queryset
