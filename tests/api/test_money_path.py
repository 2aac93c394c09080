"""What the money path reads from memory (artio/memo.py) is never stale: an edit in the admin, a
pause or a resume is seen by the very next create, in this process and in any other."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from artio.memo import VERSION_KEY
from artio.models import PartnerSettings
from billing.models import Account, LedgerEntry, LedgerKind
from catalog.models import AIModel, Price
from generation import pipeline

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"
BODY = {"model": FAST, "input": {"prompt": "a fox", "num_images": 2}}


def create(api):
    return api.post("/api/v1/generations", BODY, format="json")


def last_charge(user):
    return LedgerEntry.objects.filter(account__user=user, kind=LedgerKind.GENERATION_CHARGE).latest("id")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_a_price_edited_in_the_admin_is_charged_by_the_next_create(alice, alice_api, staff_client, enqueued):
    assert create(alice_api).json()["credits_charged"] == 8  # 4 per image: now in memory
    price = Price.objects.get(model__slug=FAST)

    edited = staff_client.post(
        reverse("admin:catalog_price_change", args=[price.pk]),
        {"variant": price.variant, "unit": price.unit, "kie_credits": str(price.kie_credits), "credits": "7"},
    )
    assert edited.status_code == 302
    response = create(alice_api)

    assert response.json()["credits_charged"] == 14
    assert last_charge(alice).amount == -14
    assert Account.objects.get(user=alice).balance == 1000 - 8 - 14


def test_a_model_retired_in_the_price_list_or_its_page_is_gone_at_once(alice_api, staff_client, enqueued):
    assert create(alice_api).status_code == 202
    model = AIModel.objects.get(slug=FAST)
    changelist = reverse("admin:catalog_aimodel_changelist")
    edited = staff_client.post(
        changelist,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(model.pk),
            "form-0-sort_order": str(model.sort_order),
            # is_active unticked
            "_save": "Save",
        },
        QUERY_STRING=f"q={FAST}",
    )
    assert edited.status_code == 302
    assert not AIModel.objects.get(pk=model.pk).is_active

    response = create(alice_api)

    assert response.status_code == 400
    assert "model" in response.json()["error"]["details"]


def test_a_pause_and_a_resume_are_seen_by_the_next_create(alice_api, enqueued):
    assert create(alice_api).status_code == 202  # "not paused" is now in memory

    pipeline.dispatch_pause(reason="KIE answered 402: Credits insufficient")
    paused = create(alice_api)
    pipeline.dispatch_resume()
    resumed = create(alice_api)

    assert paused.status_code == 503
    assert paused.json()["error"]["code"] == "provider_unavailable"
    assert resumed.status_code == 202


def test_a_partner_discount_edited_in_the_admin_is_charged_by_the_next_create(
    alice, alice_api, staff_client, enqueued
):
    assert create(alice_api).json()["credits_charged"] == 8
    partner = PartnerSettings.objects.get(user=alice)

    edited = staff_client.post(
        reverse("admin:artio_partnersettings_change", args=[partner.pk]),
        {"rate_limit_per_minute": "600", "discount_percent": "25"},
    )
    assert edited.status_code == 302
    response = create(alice_api)

    assert response.json()["credits_charged"] == 6
    assert last_charge(alice).amount == -6


def test_an_edit_in_another_process_is_seen_once_it_bumps_the_shared_version(alice, alice_api, enqueued):
    assert create(alice_api).json()["credits_charged"] == 8
    # Another process writes the price and bumps: the row changes, and so does the shared version
    # (its own memory is not ours). Without the bump this process still knows the old price.
    Price.objects.filter(model__slug=FAST).update(credits=5)
    assert create(alice_api).json()["credits_charged"] == 8
    cache.set(VERSION_KEY, "set-by-another-process")

    assert create(alice_api).json()["credits_charged"] == 10
    assert last_charge(alice).amount == -10


def test_a_lost_version_reloads_rather_than_trusting_memory(alice, alice_api, enqueued):
    create(alice_api)
    Price.objects.filter(model__slug=FAST).update(credits=5)
    cache.delete(VERSION_KEY)  # evicted, or the cache restarted

    assert create(alice_api).json()["credits_charged"] == 10


def test_a_claim_taken_over_mid_request_rolls_the_charge_back(alice, alice_api, enqueued, monkeypatch):
    from django.utils import timezone

    from artio.models import IdempotencyRecord
    from generation import services

    real_create = services.generation_create

    def taken_over_meanwhile(**kwargs):
        # A second request found our claim stale and took it over while we were validating.
        IdempotencyRecord.objects.update(locked_at=timezone.now())
        return real_create(**kwargs)

    monkeypatch.setattr(services, "generation_create", taken_over_meanwhile)

    response = alice_api.post("/api/v1/generations", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 409
    assert not LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).exists()
    assert Account.objects.get(user=alice).balance == 1000
    assert IdempotencyRecord.objects.get().response_status is None  # still the other request's
