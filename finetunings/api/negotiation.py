from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, refusing ``?format=`` (empty) rather than reading it as absent."""

    def select_renderer(self, request, renderers, format_suffix=None):
        name = self.settings.URL_FORMAT_OVERRIDE
        if name and request.query_params.get(name, None) == "":
            raise exceptions.ValidationError(
                {name: ["Must not be empty: name a format (json, api) or leave it out."]}
            )
        return super().select_renderer(request, renderers, format_suffix)
