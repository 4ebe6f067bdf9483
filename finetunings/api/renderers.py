"""Renderers for routes that serve something other than JSON.

DRF negotiates the response type before a view runs, so a client asking for
``Accept: application/jsonl`` (the training file) must find a renderer for it, or it
gets 406 before the file is even looked at.
"""

import json

from rest_framework.renderers import BaseRenderer


class JSONLinesRenderer(BaseRenderer):
    media_type = "application/jsonl"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # The file itself is streamed by the view; only error bodies come through here.
        return json.dumps(data).encode()
