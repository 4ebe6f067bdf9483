"""Renderers for routes that serve something other than JSON.

DRF negotiates the response type before a view runs, so a client asking for
``Accept: application/jsonl`` (the training file) must find a renderer for it, or it
gets 406 before the file is even looked at.
"""

import json

from rest_framework import renderers
from rest_framework.renderers import BaseRenderer
from rest_framework.request import override_method

from finetunings import hygiene


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, which fails (a 500) on a lone surrogate in the data.

    The parser refuses them and stored JSON is read without them, so this is the last net:
    whatever else carries one (an error quoting input, say) is sent with the surrogate
    escaped, as JSON allows, instead of crashing.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True  # a fresh instance per response: nothing else sees it
            return super().render(data, accepted_media_type, renderer_context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """The browsable API, with the same net: its HTML page cannot carry a lone surrogate."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        page = super().render(data, accepted_media_type, renderer_context)
        if isinstance(page, str):
            return hygiene.replace_unsafe_text(page).encode(self.charset)
        return page


class JSONLinesRenderer(BaseRenderer):
    media_type = "application/jsonl"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # The file itself is streamed by the view; only error bodies come through here.
        return json.dumps(data).encode()  # ASCII: json.dumps escapes any surrogate


class OctetStreamRenderer(JSONLinesRenderer):
    """``Accept: application/octet-stream`` for a file route: the same bytes, as a download.

    Client generators (openapi-python-client) turn only this type, not application/jsonl,
    into a call that returns the bytes; the schema offers both, so the route serves both.
    """

    media_type = "application/octet-stream"
    format = "bin"
    charset = None


class GuidedBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API, with forms pre-filled by a request that works when posted.

    DRF fills the raw-data form from an empty serializer: blank ids, ``null`` choices and
    ``golden_records: []`` (which means "none", where leaving it out means "all"), so
    posting it as it stands is a 400. A view's ``browsable_example()`` gives a body that
    works instead (or None to keep DRF's).
    """

    def get_raw_data_form(self, data, view, method, request):
        form = super().get_raw_data_form(data, view, method, request)
        example = getattr(view, "browsable_example", None)
        if form is None or example is None:
            return form
        with override_method(view, request, method):
            content = example()
        if content is not None:
            form.fields["_content"].initial = json.dumps(content, indent=4)
        return form
