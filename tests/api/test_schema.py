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


def test_schema_documents_every_partner_endpoint_and_error(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = document["paths"]
    for path in ("/api/v1/quotes", "/api/v1/generations", "/api/v1/generations/{public_id}",
                 "/api/v1/balance", "/api/v1/ledger"):  # fmt: skip
        assert path in paths
    create = paths["/api/v1/generations"]["post"]
    assert {"202", "400", "401", "402", "403", "409", "422", "429", "503"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    assert "curl" in create["description"] and "requests" in create["description"]
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    assert create["security"] == [{"ApiKeyAuth": []}]
