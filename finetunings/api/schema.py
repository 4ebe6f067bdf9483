"""Teaches drf-spectacular how this API authenticates, so the schema documents it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "finetunings.api.authentication.APIKeyAuthentication"
    name = "BearerApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `python manage.py create_api_key NAME`.",
        }


class StaffSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "finetunings.api.authentication.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A staff member's admin session (browsable API).",
        }


def document_paths_without_trailing_slash(endpoints):
    """Preprocessing hook: show routes in the seed's form (``.../cancel``); both forms work."""
    return [
        (path.rstrip("/") or path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]
