"""Schemathesis against /api/schema/, in-process over WSGI: no 5xx, no response that breaks the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
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

        assert {"next", "previous", "results"} <= set(page["properties"])
        assert page["properties"]["results"]["items"]["$ref"].endswith(f"/{item}")
        assert {"cursor", "limit"} <= set(parameters)
        assert parameters["limit"]["schema"]["maximum"] == 100
    status = {p["name"]: p for p in document["paths"]["/api/v1/generations"]["get"]["parameters"]}["status"]
    assert set(status["schema"]["enum"]) >= {"queued", "submitted", "running", "succeeded", "failed"}


def test_schema_posts_take_an_idempotency_key_header(document):
    for path in ("/api/v1/quotes", "/api/v1/generations"):
        parameters = document["paths"][path]["post"]["parameters"]

        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)


def test_every_operation_shows_a_curl_and_a_python_requests_example(document):
    for method, path in WITH_EXAMPLES:
        description = document["paths"][path][method]["description"]

        assert "```sh\ncurl" in description, (method, path)
        assert "```python\nimport" in description and "requests." in description, (method, path)
