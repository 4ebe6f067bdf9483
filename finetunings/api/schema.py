"""Teaches drf-spectacular how this API authenticates, so the schema documents it."""

import copy

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


CONNECTION_URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*:.+$"


WEBHOOK_HEADERS = (
    ("webhook-id", "The event's delivery id (Standard Webhooks)."),
    ("webhook-timestamp", "Unix seconds when it was signed; at most 5 minutes old."),
    ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body>."),
)
WEBHOOK_BODY = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "object": {"type": "string"},
        "created_at": {"type": "integer"},
        "type": {"type": "string", "example": "fine_tuning.job.succeeded"},
        "data": {
            "type": "object",
            "properties": {"id": {"type": "string", "minLength": 1}},
        },
    },
}


def document_enforced_limits(result, generator, request, public):
    """Postprocessing hook: the limits the server enforces that its serializers cannot show.

    They are business rules checked by the services (one place for the API and the admin),
    so they are written here, next to the constants they come from, for the schema and for
    clients (and fuzzers) that read it.
    """
    from finetunings import validation

    schemas = result["components"]["schemas"]
    _document_connection_uri(schemas)
    golden_ids = schemas["FinetuningCreateRequest"]["properties"]["golden_records"]
    golden_ids["minItems"] = validation.GOLDEN_RECORDS_MINIMUM
    golden_ids["maxItems"] = validation.GOLDEN_RECORDS_MAXIMUM
    _document_model_parameters(schemas, validation.MODEL_PARAMETER_RULES)
    _document_bulk_golden_records(result["paths"]["/api/v1/golden-records"]["post"])
    _document_webhook(result["paths"]["/api/v1/webhooks/openai"]["post"])
    return result


def _document_connection_uri(schemas) -> None:
    for name in ("DatabaseConnectionRequest", "PatchedDatabaseConnectionRequest"):
        uri = schemas.get(name, {}).get("properties", {}).get("connection_uri")
        if uri is not None:
            uri["pattern"] = CONNECTION_URI_PATTERN
            uri["description"] = (
                "A URI: a scheme, a colon and the rest, e.g. "
                "postgresql://user:password@host:5432/database (percent-encode special "
                "characters in the password). " + uri.get("description", "")
            ).strip()


def _document_model_parameters(schemas, rules) -> None:
    for rule_name, rule in rules.items():
        prop = schemas.get("ModelParametersRequest", {}).get("properties", {}).get(rule_name)
        if prop is None:
            continue
        number = {"type": "integer" if rule["type"] is int else "number", "maximum": rule["max"]}
        if "min" in rule:
            number["minimum"] = rule["min"]
        else:
            number["exclusiveMinimum"] = True
            number["minimum"] = rule["min_exclusive"]
        prop.pop("oneOf", None)
        prop["oneOf"] = [number, {"type": "string", "minLength": 1}]


def _document_bulk_golden_records(create) -> None:
    from finetunings.api.serializers import GOLDEN_RECORDS_BULK_MAX

    for where, component in (
        (create["requestBody"]["content"]["application/json"], "GoldenRecordRequest"),
        (create["responses"]["201"]["content"]["application/json"], "GoldenRecord"),
    ):
        ref = {"$ref": f"#/components/schemas/{component}"}
        many = {"type": "array", "items": ref, "maxItems": GOLDEN_RECORDS_BULK_MAX}
        if component == "GoldenRecordRequest":
            many["minItems"] = 1
        where["schema"] = {"oneOf": [ref, many]}


def _document_webhook(webhook) -> None:
    webhook["parameters"] = [
        {
            "in": "header",
            "name": name,
            "required": True,
            "schema": {"type": "string"},
            "description": description,
        }
        for name, description in WEBHOOK_HEADERS
    ]
    webhook["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": copy.deepcopy(WEBHOOK_BODY)}},
    }


RATE_LIMITED = (
    "Over the rate limit of the API key (or staff user); retry after Retry-After seconds."
)


def document_rate_limits(result, generator, request, public):
    """Postprocessing hook: every authenticated operation may answer 429 (api/throttling.py).

    An operation that documents 401 is one a caller authenticates for, and so one their
    budget counts; its 429 has the same error body, and the ``Retry-After`` header.
    """
    for operations in result["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            if "401" not in responses or "429" in responses:
                continue
            responses["429"] = {
                "content": copy.deepcopy(responses["401"].get("content", {})),
                "description": RATE_LIMITED,
                "headers": {
                    "Retry-After": {
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "Seconds to wait before the next request.",
                    }
                },
            }
            operation["responses"] = dict(sorted(responses.items()))
    return result
