"""Per-key rate limits: 429 rate_limited with Retry-After, configurable per account."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.exceptions import Throttled

from artio.api_errors import exception_handler
from artio.models import PartnerSettings
from artio.services import api_key_create, partner_settings_for_user, rate_counter_hit

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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_are_counted_once_each_never_both_under_the_limit():
    # given: 20 requests of one key arriving at the same instant, in separate connections
    barrier = threading.Barrier(20)

    def hit(_):
        barrier.wait()
        try:
            return rate_counter_hit(name="api-key:race", window_seconds=60)[0]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        counts = list(pool.map(hit, range(20)))

    # then: each saw its own place in the window (a read-then-write would hand two the same count)
    assert sorted(counts) == list(range(1, 21))


@pytest.mark.django_db
def test_a_window_closes_after_a_minute_and_the_next_request_opens_one():
    assert rate_counter_hit(name="api-key:w", window_seconds=60, now=1000.0) == (1, 60.0)
    assert rate_counter_hit(name="api-key:w", window_seconds=60, now=1030.0) == (2, 30.0)
    assert rate_counter_hit(name="api-key:w", window_seconds=60, now=1060.5) == (1, 60.0)
