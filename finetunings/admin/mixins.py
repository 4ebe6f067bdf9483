"""What every admin page of the app shares: who acts, NUL-safe lookups, refusals as messages."""

from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG
from django.http import HttpResponseRedirect

from finetunings import errors, validation


def staff_actor(request) -> str:
    """Who is acting, in the form the API also writes in a job's timeline."""
    return f"staff user {request.user.get_username()}"


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def adopt(obj, saved) -> None:
    """Make the admin's unsaved instance the row a service created, for the admin's redirect."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


def refusal_message(exc: errors.DomainError) -> str:
    if isinstance(exc, errors.ValidationFailed):
        return " ".join(message for problems in exc.errors.values() for message in problems)
    return exc.message


class RefuseNulCharactersMixin:
    """Change lists answer query strings holding NUL characters as Django does bad filters.

    PostgreSQL text cannot hold NUL, so any filter or search value with one would fail the
    page's query with a 500; no stored value holds one, so nothing is lost.
    """

    def changelist_view(self, request, extra_context=None):
        if any("\x00" in value for _key, values in request.GET.lists() for value in values):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # Also the autocomplete of related fields, which is not a change list.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def get_object(self, request, object_id, from_field=None):
        # The change, delete and history pages: no id holds a NUL, and PostgreSQL would
        # refuse to look one up (a 500); None is Django's "doesn't exist".
        if "\x00" in str(object_id):
            return None
        return super().get_object(request, object_id, from_field)


class ServiceRefusalsAsMessagesMixin:
    """A service refusing a save or delete shows as an error message, not a 500.

    The admin checks the same rules first (active jobs block a delete, aliases are unique),
    so this only happens when another request wins a race between the check and the write.
    The page's transaction is rolled back; the user lands on the same page again.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._refusals_as_messages(
            request, super().changeform_view, request, object_id, form_url, extra_context
        )

    def delete_view(self, request, object_id, extra_context=None):
        return self._refusals_as_messages(
            request, super().delete_view, request, object_id, extra_context
        )

    def changelist_view(self, request, extra_context=None):
        # The bulk delete action goes through the services one row at a time.
        return self._refusals_as_messages(request, super().changelist_view, request, extra_context)

    def _refusals_as_messages(self, request, view, *args):
        try:
            return view(*args)
        except errors.DomainError as exc:
            self.message_user(request, refusal_message(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AppAdminMixin(RefuseNulCharactersMixin, ServiceRefusalsAsMessagesMixin):
    """The base of the app's model admins (placed before ``admin.ModelAdmin``)."""


class LargeChangeListMixin:
    """The change list of a table that grows without bound (jobs, connections, records).

    Newest first on the indexed created_at, the id breaking ties so that pages are stable.
    A full count of hundreds of thousands of rows on every page view is not worth it, nor
    a count per filter option.
    """

    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


class MetadataFieldMixin:
    """A model form's ``metadata`` field, checked by the same rules as the API's."""

    def clean_metadata(self):
        metadata = self.cleaned_data["metadata"]
        for problem in validation.metadata_problems(metadata):
            self.add_error("metadata", problem)
        return metadata
