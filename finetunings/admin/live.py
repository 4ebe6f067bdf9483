"""The job page refreshes itself while the job is active, without a reload.

The page's script (``static/finetunings/live.js``) asks this small view every few seconds
for the page's live fields (those made with ``job_fields.live``) and swaps each one that
changed in place: the scroll position, open details and anything typed in the form stay as
they were. The view says whether the job is still active; once it has ended the script
stops asking.
"""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache


class LivePageMixin:
    # How often an active job's page asks for its live fields.
    live_refresh_seconds = 5.0

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_live"
        return [
            path(
                "<path:object_id>/live/",
                self.admin_site.admin_view(never_cache(self.live_view)),
                name=name,
            ),
            *super().get_urls(),
        ]

    def live_field_names(self, request, obj) -> list[str]:
        return [
            name
            for _title, options in self.get_fieldsets(request, obj)
            for name in options["fields"]
            if getattr(getattr(self, name, None), "live", False)
        ]

    def live_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such fine-tuning job.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        names = self.live_field_names(request, obj)
        parts = {name: str(getattr(self, name)(obj)) for name in names}
        return JsonResponse({"active": obj.is_active, "parts": parts})

    def live_page_context(self, request, obj) -> dict:
        """The template's switch: only an active job's page refreshes itself."""
        if obj is None or not obj.is_active:
            return {"live_url": None}
        url_name = f"admin:{self.opts.app_label}_{self.opts.model_name}_live"
        return {
            "live_url": reverse(url_name, args=[obj.pk]),
            "live_refresh_ms": int(self.live_refresh_seconds * 1000),
        }
