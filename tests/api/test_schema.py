from http import HTTPStatus

import pytest
from django.core.management import call_command


@pytest.fixture
def schema(anonymous_api, db):
    response = anonymous_api.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def test_cancel_documents_request_example_and_every_response(schema):
    operation = schema["paths"]["/api/v1/finetunings/{id}/cancel"]["post"]

    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "422",
        "429",
        "502",
        "503",
    }
    request = operation["requestBody"]["content"]["application/json"]
    assert set(request["schema"]["$ref"].split("/")[-1:]) == {"FinetuningCancelRequest"}
    assert any(
        example["value"] == {"finetuning_id": "656777c9eb4e22533dc43fce"}
        for example in request["examples"].values()
    )
    conflict = operation["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert conflict.endswith("NotCancellableError")


def test_error_shape_and_job_fields_are_documented(schema):
    components = schema["components"]["schemas"]

    assert set(components["Error"]["required"]) == {"detail", "code"}
    assert "errors" in components["ValidationError"]["properties"]
    job_fields = set(components["Finetuning"]["properties"])
    assert {
        "id",
        "db_connection_id",
        "alias",
        "status",
        "error",
        "base_llm",
        "finetuning_file_id",
        "finetuning_job_id",
        "model_id",
        "created_at",
        "golden_records",
        "metadata",
    } <= job_fields
    assert set(components["FinetuningStatusEnum"]["enum"]) == {
        "queued",
        "validating_files",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    }


# OpenAI signs its webhook calls instead; they carry no API key.
UNAUTHENTICATED_ROUTES = {"/api/v1/webhooks/openai"}


def test_every_api_route_but_the_webhook_declares_bearer_auth(schema):
    assert schema["components"]["securitySchemes"]["BearerApiKey"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in UNAUTHENTICATED_ROUTES:
                assert operation["security"] == [{}], (method, path)
            else:
                assert {"BearerApiKey": []} in operation["security"], (method, path)


@pytest.mark.django_db
def test_every_authenticated_route_documents_its_429_and_retry_after(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in UNAUTHENTICATED_ROUTES:
                assert "429" not in operation["responses"], (method, path)
                continue
            throttled = operation["responses"]["429"]
            assert "Retry-After" in throttled["headers"], (method, path)
            body = throttled["content"]["application/json"]["schema"]["$ref"]
            assert body == "#/components/schemas/Error", (method, path)


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert "/api/v1/finetunings/{id}/cancel:" in target.read_text()


def test_connection_uri_is_required_to_create_a_connection_but_not_to_replace_one(schema):
    components = schema["components"]["schemas"]
    path = schema["paths"]["/api/v1/database-connections/{id}"]
    put = path["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    post = schema["paths"]["/api/v1/database-connections"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]

    assert "connection_uri" in components[post.split("/")[-1]]["required"]
    put_component = components[put.split("/")[-1]]
    assert "connection_uri" in put_component["properties"]
    assert "connection_uri" not in put_component["required"]
    assert "keep the stored one" in put_component["properties"]["connection_uri"]["description"]


def test_limit_documents_its_range(schema):
    parameters = schema["paths"]["/api/v1/finetunings"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")

    assert limit["schema"]["minimum"] == 1
    assert limit["schema"]["maximum"] == 500


def test_golden_record_create_documents_the_array_form_and_its_cap(schema):
    operation = schema["paths"]["/api/v1/golden-records"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]

    for one_of in (request["oneOf"], created["oneOf"]):
        array = next(item for item in one_of if item.get("type") == "array")
        assert array["maxItems"] == 10_000
        assert any("$ref" in item for item in one_of)
    assert next(i for i in request["oneOf"] if i.get("type") == "array")["minItems"] == 1


def test_webhook_documents_its_signature_headers_and_body(schema):
    operation = schema["paths"]["/api/v1/webhooks/openai"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}

    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert all(header["required"] for header in headers.values())
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"id", "type", "data"} <= set(body["properties"])
    assert "invalid_webhook_body" in operation["responses"]["400"]["description"]


def test_connection_uri_documents_its_form_and_sizes_are_bounded(schema):
    components = schema["components"]["schemas"]
    uri = components["DatabaseConnectionRequest"]["properties"]["connection_uri"]

    assert uri["pattern"]
    assert components["GoldenRecordRequest"]["properties"]["sql"]["maxLength"] == 20_000
    assert components["DatabaseConnectionRequest"]["properties"]["schema"]["maxLength"]
    golden_ids = components["FinetuningCreateRequest"]["properties"]["golden_records"]
    assert golden_ids["minItems"] == 10
    assert golden_ids["maxItems"] == 100_000


def test_cancel_has_a_stable_operation_id_and_examples_that_work_when_tried(schema):
    operation = schema["paths"]["/api/v1/finetunings/{id}/cancel"]["post"]
    examples = list(operation["requestBody"]["content"]["application/json"]["examples"].values())
    conflict = operation["responses"]["409"]["content"]["application/json"]["examples"]

    assert operation["operationId"] == "finetunings_cancel"
    assert "finetuning_id" not in examples[0]["value"]  # Try it out starts from this one
    assert [example["value"]["status"] for example in conflict.values()] == ["succeeded"]


def test_the_authorize_dialog_asks_only_for_an_api_key(schema):
    assert list(schema["components"]["securitySchemes"]) == ["BearerApiKey"]


def test_file_routes_have_stable_operation_ids(schema):
    paths = schema["paths"]

    assert paths["/api/v1/golden-records/import"]["post"]["operationId"] == "golden_records_import"
    assert paths["/api/v1/golden-records/export"]["get"]["operationId"] == "golden_records_export"
    training_file = paths["/api/v1/finetunings/{id}/training-file"]["get"]
    assert training_file["operationId"] == "finetunings_training_file"


def test_the_bulk_golden_record_create_is_in_the_schema(schema):
    body = schema["paths"]["/api/v1/golden-records"]["post"]["requestBody"]["content"]
    one, many = body["application/json"]["schema"]["oneOf"]

    assert one["$ref"].endswith("/GoldenRecordRequest")
    assert many["type"] == "array"
    assert many["items"]["$ref"].endswith("/GoldenRecordRequest")
    assert "GoldenRecordRequest" in schema["components"]["schemas"]


def test_following_a_job_is_documented(schema):
    job = schema["components"]["schemas"]["Finetuning"]["properties"]
    assert {
        "progress",
        "estimated_finish",
        "trained_tokens",
        "hyperparameters",
        "error_detail",
    } <= set(job)
    checkpoints = schema["paths"]["/api/v1/finetunings/{id}/checkpoints"]["get"]
    assert {"200", "404"} <= set(checkpoints["responses"])
    metrics = schema["paths"]["/api/v1/finetunings/{id}/metrics"]["get"]
    parameters = {parameter["name"] for parameter in metrics["parameters"]}
    assert {"points", "cursor", "limit"} <= parameters
    assert {"200", "400", "401", "403", "404"} <= set(metrics["responses"])


def test_file_downloads_and_the_import_upload_are_described_for_client_generators(schema):
    paths = schema["paths"]
    download = paths["/api/v1/finetunings/{id}/training-file"]["get"]["responses"]["200"]
    upload = paths["/api/v1/golden-records/import"]["post"]["requestBody"]["content"]

    # openapi-python-client drops application/jsonl; octet-stream becomes a call returning bytes.
    for media_type in ("application/jsonl", "application/octet-stream"):
        assert download["content"][media_type]["schema"] == {"type": "string", "format": "binary"}
    form = upload["multipart/form-data"]["schema"]
    if "$ref" in form:
        form = schema["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]
    file_field = form["properties"]["file"]
    assert (file_field["type"], file_field["format"]) == ("string", "binary")
    assert "file" in form["required"]


def test_events_are_documented_as_a_paginated_list(schema, api, finetuning):
    operation = schema["paths"]["/api/v1/finetunings/{id}/events"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    documented = schema["components"]["schemas"][ref.split("/")[-1]]

    body = api.get(f"/api/v1/finetunings/{finetuning.pk}/events").json()

    assert set(body) == {"next", "previous", "results"}
    assert "results" in documented["properties"], documented


@pytest.mark.parametrize(
    "path", ["/api/v1/finetunings", "/api/v1/golden-records", "/api/v1/database-connections"]
)
def test_lists_document_their_400_for_bad_parameters(schema, api, path):
    assert api.get(path, {"limit": 0}).status_code == HTTPStatus.BAD_REQUEST

    assert "400" in schema["paths"][path]["get"]["responses"]


def test_parse_error_matches_the_documented_400(schema, api, db):
    documented = schema["components"]["schemas"]["ValidationError"]

    response = api.generic(
        "POST", "/api/v1/finetunings", '{"db_connection_id": ', content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    missing = set(documented["required"]) - set(response.json())
    assert not missing, f"the documented 400 requires {missing}; got {response.json()}"
