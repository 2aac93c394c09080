"""Per-key rate limits: 429 rate_limited with Retry-After, configurable per account."""

import pytest
from rest_framework.exceptions import Throttled

from artio.api_errors import exception_handler
from artio.models import PartnerSettings
from artio.services import api_key_create, partner_settings_for_user

from .conftest import client_for

pytestmark = pytest.mark.django_db


def test_over_the_accounts_rate_is_429_with_retry_after(alice, alice_api):
    partner = partner_settings_for_user(user=alice)
    PartnerSettings.objects.filter(pk=partner.pk).update(rate_limit_per_minute=3)

    statuses = [alice_api.get("/api/v1/balance").status_code for _ in range(4)]
    limited = alice_api.get("/api/v1/balance")

    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_the_limit_is_per_key(alice, alice_api):
    partner = partner_settings_for_user(user=alice)
    PartnerSettings.objects.filter(pk=partner.pk).update(rate_limit_per_minute=2)
    other = client_for(api_key_create(user=alice, name="second")[1])

    for _ in range(2):
        alice_api.get("/api/v1/balance")

    assert alice_api.get("/api/v1/balance").status_code == 429
    assert other.get("/api/v1/balance").status_code == 200


def test_default_rate_is_120_per_minute(alice, alice_api):
    statuses = {alice_api.get("/api/v1/ledger").status_code for _ in range(120)}

    assert statuses == {200}
    assert alice_api.get("/api/v1/ledger").status_code == 429


def test_staff_change_the_rate_in_the_admin_and_it_applies_at_once(client, staff, alice, alice_api):
    partner = partner_settings_for_user(user=alice)
    client.force_login(staff)

    response = client.post(
        f"/admin/artio/partnersettings/{partner.pk}/change/",
        {"rate_limit_per_minute": 2, "discount_percent": 0},
    )

    assert response.status_code == 302
    assert [alice_api.get("/api/v1/balance").status_code for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_whole_seconds_rounded_up_never_zero():
    assert exception_handler(Throttled(wait=0.2), {})["Retry-After"] == "1"
    assert exception_handler(Throttled(wait=41.3), {})["Retry-After"] == "42"
