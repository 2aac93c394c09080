"""Schemathesis against /api/schema/, in-process over WSGI: no 5xx, no response that breaks the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from artio.models import PartnerSettings
from artio.services import partner_settings_for_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Keep the test's DB connection across WSGI requests, as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def partner_key(alice, alice_key):
    # Enough rate for the whole run: this test checks shapes, not the limiter.
    partner = partner_settings_for_user(user=alice)
    PartnerSettings.objects.filter(pk=partner.pk).update(rate_limit_per_minute=100_000)
    return alice_key


# Loaded in-process at collection (pytest-django has configured Django by then); no DB needed.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_with_a_key(case, partner_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {partner_key}"}, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api_conforms_to_its_schema_without_a_key(case):
    case.call_and_validate(checks=CHECKS)


# docs/reference/api-contract.md, line by line: every operation and the statuses it can answer.
CONTRACT = {
    ("get", "/api/v1/models"): {"200"},
    ("get", "/api/v1/models/{slug}"): {"200", "404"},
    ("post", "/api/v1/quotes"): {"200", "400", "401", "403", "409", "422", "429", "503"},
    ("post", "/api/v1/generations"): {"202", "400", "401", "402", "403", "409", "422", "429", "503"},
    ("get", "/api/v1/generations"): {"200", "400", "401", "403", "429"},
    ("get", "/api/v1/generations/{public_id}"): {"200", "401", "403", "404", "429"},
    ("get", "/api/v1/balance"): {"200", "401", "429"},
    ("get", "/api/v1/ledger"): {"200", "400", "401", "429"},
}
PUBLIC = {("get", "/api/v1/models"), ("get", "/api/v1/models/{slug}")}
# The catalogue's /models views are not this area's; every other operation carries its examples.
WITH_EXAMPLES = set(CONTRACT)
FIELDS = {
    "Generation": {"id", "model", "status", "input", "credits_charged", "refunded", "images", "error",
                   "created_at", "completed_at"},
    "Image": {"url", "width", "height", "content_type"},
    "Balance": {"credits", "plan", "frozen"},
    "LedgerEntry": {"id", "kind", "amount", "balance_after", "reference", "created_at"},
    "Model": {"slug", "name", "family", "kind", "min_plan", "prices", "input_schema"},
    "Price": {"variant", "credits", "unit"},
    "ErrorDetail": {"code", "message", "details"},
}  # fmt: skip


@pytest.fixture
def document(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def _resolve(document, schema):
    name = schema["$ref"].rsplit("/", 1)[-1]
    return name, document["components"]["schemas"][name]


def test_schema_declares_every_operation_and_status_of_the_contract(document):
    declared = {(method, path) for path, ops in document["paths"].items() for method in ops}

    assert declared == set(CONTRACT)
    for (method, path), statuses in CONTRACT.items():
        responses = document["paths"][path][method]["responses"]
        assert statuses <= set(responses), (method, path)
        for status in statuses - {"200", "202"}:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert _resolve(document, schema)[0] == "Error", (method, path, status)


def test_schema_security_is_the_bearer_key_and_optional_only_for_models(document):
    scheme = document["components"]["securitySchemes"]["ApiKeyAuth"]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path in CONTRACT:
        security = document["paths"][path][method]["security"]
        expected = [{"ApiKeyAuth": []}, {}] if (method, path) in PUBLIC else [{"ApiKeyAuth": []}]
        assert security == expected, (method, path)


def test_schema_objects_have_the_contracts_fields(document):
    schemas = document["components"]["schemas"]

    for name, fields in FIELDS.items():
        assert fields <= set(schemas[name]["properties"]), name
        assert fields <= set(schemas[name]["required"]), name
    assert set(schemas["Error"]["properties"]) == {"error"}


def test_schema_lists_are_cursor_paginated_and_filterable(document):
    for path, item in (("/api/v1/generations", "Generation"), ("/api/v1/ledger", "LedgerEntry")):
        operation = document["paths"][path]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]
        _name, page = _resolve(document, ok["schema"])
        parameters = {p["name"]: p for p in operation["parameters"]}

        assert {"next", "previous", "next_cursor", "previous_cursor", "results"} <= set(page["required"])
        assert page["properties"]["results"]["items"]["$ref"].endswith(f"/{item}")
        assert {"cursor", "limit"} <= set(parameters)
        assert parameters["limit"]["schema"]["maximum"] == 100
    status = {p["name"]: p for p in document["paths"]["/api/v1/generations"]["get"]["parameters"]}["status"]
    name, status_type = _resolve(document, status["schema"])
    assert name == "GenerationStatus"
    assert set(status_type["x-extensible-enum"]) >= {"queued", "submitted", "running", "succeeded", "failed"}


def test_schema_posts_take_an_idempotency_key_header(document):
    for path in ("/api/v1/quotes", "/api/v1/generations"):
        parameters = document["paths"][path]["post"]["parameters"]

        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)


def test_every_operation_shows_a_curl_and_a_python_requests_example(document):
    for method, path in WITH_EXAMPLES:
        description = document["paths"][path][method]["description"]

        assert "```sh\ncurl" in description, (method, path)
        assert "```python\nimport" in description and "requests." in description, (method, path)


def test_schema_is_valid_openapi_3(document):
    validate(document)  # raises on any violation of the OpenAPI 3.0 specification


def _walk(node, path=()):
    """Yield (path, schema object) for every dict under `node`, skipping example values."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key not in ("example", "examples"):
                yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


# Value sets the catalogue or the product may grow, by their one named type each.
VALUE_SETS = {
    "Family": {"imagen", "flux-2", "recraft"},
    "ModelKind": {"text-to-image", "edit", "upscale"},
    "Plan": {"free", "standard", "premium"},
    "PriceUnit": {"image", "task"},
    "GenerationStatus": {"queued", "succeeded", "failed"},
    "LedgerKind": {"topup", "generation_charge", "generation_refund"},
    "SubscriptionStatus": {"active", "past_due", "canceled"},
    "WebhookEventType": {"generation.succeeded", "generation.failed"},
    "ErrorCode": {"invalid_input", "insufficient_credits", "not_found", "rate_limited"},
}


def test_no_value_set_is_a_closed_enum_and_each_has_one_named_type(document):
    # A closed enum makes generated clients refuse a value they do not know: one new model
    # family would break every integrated partner's model listing.
    enums = [path for path, node in _walk(document) if "enum" in node]
    schemas = document["components"]["schemas"]

    assert enums == []
    for name, known in VALUE_SETS.items():
        assert schemas[name]["type"] == "string", name
        assert known <= set(schemas[name]["x-extensible-enum"]), name
        assert "New values may be added" in schemas[name]["description"], name
    assert not [name for name in schemas if name.endswith(("Enum", "RequestRequest"))]
    assert "GenerationRequest" in schemas


def test_schema_declares_the_webhook_as_a_callback_of_create(document):
    callbacks = document["paths"]["/api/v1/generations"]["post"]["callbacks"]
    ((expression, item),) = callbacks["generationFinished"].items()
    operation = item["post"]
    signature = {p["name"]: p for p in operation["parameters"]}["Artio-Signature"]

    assert expression == "{$request.body#/webhook_url}"
    assert (signature["in"], signature["required"]) == ("header", True)
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    name, event = _resolve(document, body)
    assert name == "WebhookEvent" and {"type", "data"} <= set(event["required"])
    assert event["properties"]["data"]["allOf"][0]["$ref"].endswith("/Generation")


def test_schema_declares_the_response_headers_the_api_sends(document):
    for (method, path), statuses in CONTRACT.items():
        responses = document["paths"][path][method]["responses"]
        for status in {"409", "429"} & statuses:
            assert "Retry-After" in responses[status]["headers"], (method, path, status)
    for path, status in (("/api/v1/quotes", "200"), ("/api/v1/generations", "202")):
        assert "Idempotent-Replayed" in document["paths"][path]["post"]["responses"][status]["headers"]


def test_schema_types_ids_input_schemas_and_servers(document):
    schemas = document["components"]["schemas"]
    public_id = document["paths"]["/api/v1/generations/{public_id}"]["get"]["parameters"][0]

    assert public_id["schema"]["pattern"] == schemas["Generation"]["properties"]["id"]["pattern"]
    assert public_id["schema"]["pattern"].startswith("^gen_")
    input_schema = schemas["Model"]["properties"]["input_schema"]
    assert _resolve(document, input_schema["allOf"][0])[1]["type"] == "object"
    assert document["servers"][0]["url"].startswith("http")
