"""A monthly credit cap per API key: never passed, even by concurrent creates; refunds give back."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import connections

from artio.models import ApiKey
from billing.models import Account, KeySpend, LedgerEntry, LedgerKind
from billing.selectors import ledger_audit
from billing.services import credits_refund, month_start
from catalog.services import catalog_seed
from generation.models import Generation

from .conftest import client_for, grant

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"
BODY = {"model": FAST, "input": {"prompt": "a fox", "num_images": 2}}  # 8 credits


def _cap(raw_key, cap):
    prefix = raw_key.split("_")[1]
    ApiKey.objects.filter(prefix=prefix).update(monthly_credit_cap=cap)


def test_a_create_that_would_pass_the_cap_is_refused_with_402_and_charges_nothing(
    alice, alice_key, alice_api
):
    _cap(alice_key, 20)
    assert alice_api.post("/api/v1/generations", BODY, format="json").status_code == 202
    assert alice_api.post("/api/v1/generations", BODY, format="json").status_code == 202

    response = alice_api.post("/api/v1/generations", BODY, format="json")

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "spend_cap_reached"
    assert error["details"] == {"cap": 20, "spent": 16, "required": 8}
    assert Generation.objects.count() == 2
    assert Account.objects.get(user=alice).balance == 1000 - 16
    assert ledger_audit() == []


def test_balance_shows_the_calling_keys_spend_this_month(alice_key, alice_api):
    _cap(alice_key, 100)
    alice_api.post("/api/v1/generations", BODY, format="json")

    spend = alice_api.get("/api/v1/balance").json()["spend"]

    assert spend == [{"key_prefix": alice_key.split("_")[1], "cap": 100, "spent_this_month": 8}]


def test_a_refund_gives_the_spend_back(alice_key, alice_api):
    _cap(alice_key, 8)
    generation_id = alice_api.post("/api/v1/generations", BODY, format="json").json()["id"]
    generation = Generation.objects.get(public_id=generation_id)

    for _ in range(2):  # a refund happens once, however often asked
        credits_refund(account_id=generation.account_id, amount=8, reference=generation.public_id)

    assert KeySpend.objects.get().credits == 0
    assert alice_api.post("/api/v1/generations", BODY, format="json").status_code == 202
    assert ledger_audit() == []


def test_the_cap_counts_per_calendar_month_in_utc(alice_key, alice_api):
    _cap(alice_key, 8)
    api_key = ApiKey.objects.get(prefix=alice_key.split("_")[1])
    # last month's spend, at the cap, does not count this month
    KeySpend.objects.create(
        api_key=api_key, month=month_start(datetime(2000, 1, 31, 23, 59, tzinfo=UTC)), credits=8
    )
    assert month_start(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)).isoformat() == "2026-12-01"

    assert alice_api.post("/api/v1/generations", BODY, format="json").status_code == 202


def test_web_creates_and_other_keys_are_not_counted(alice, alice_key, alice_api):
    from artio.services import api_key_create

    _cap(alice_key, 8)
    _other, other_raw = api_key_create(user=alice, name="other")
    assert client_for(other_raw).post("/api/v1/generations", BODY, format="json").status_code == 202
    assert alice_api.post("/api/v1/generations", BODY, format="json").status_code == 202


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_creates_never_pass_the_cap(alice):
    from artio.services import api_key_create

    catalog_seed()  # transactional tests flush what the seed migration filled
    grant(alice, 1000, plan="premium")
    api_key, raw = api_key_create(user=alice, name="race")
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_credit_cap=44)  # room for 5 creates of 8
    barrier = threading.Barrier(20)

    def create(i):
        barrier.wait()
        try:
            return client_for(raw).post("/api/v1/generations", BODY, format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(create, range(20)))

    assert sorted(statuses) == [202] * 5 + [402] * 15
    assert KeySpend.objects.get().credits == 40
    assert LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count() == 5
    assert ledger_audit() == []


def test_the_keys_page_sets_a_cap_and_shows_the_spend(client, alice, alice_key, alice_api):
    api_key = ApiKey.objects.get(prefix=alice_key.split("_")[1])
    client.force_login(alice)

    assert client.post(f"/account/api-keys/{api_key.pk}/cap/", {"cap": "50"}).status_code == 302
    alice_api.post("/api/v1/generations", BODY, format="json")

    assert ApiKey.objects.get(pk=api_key.pk).monthly_credit_cap == 50
    assert b"/billing/key-spend/" in client.get("/account/api-keys/").content
    fragment = client.get("/billing/key-spend/", headers={"HX-Request": "true"}).content.decode()
    assert '<td data-label="Spent" class="num">8</td>' in fragment and ">50<" in fragment
    client.post(f"/account/api-keys/{api_key.pk}/cap/", {"cap": ""})
    assert ApiKey.objects.get(pk=api_key.pk).monthly_credit_cap is None


def test_a_cap_on_another_users_key_is_a_404(client, bob, alice_key):
    api_key = ApiKey.objects.get(prefix=alice_key.split("_")[1])
    client.force_login(bob)
    assert client.post(f"/account/api-keys/{api_key.pk}/cap/", {"cap": "1"}).status_code == 404
    assert ApiKey.objects.get(pk=api_key.pk).monthly_credit_cap is None
