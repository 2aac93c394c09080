"""Quotes, generations, balance and ledger through the API: shapes, scoping, bad input, pricing."""

import pytest

from artio.models import PartnerSettings
from billing.models import LedgerEntry, LedgerKind
from catalog.models import AIModel
from generation.models import Generation, Status

from .conftest import client_for, grant

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"  # 4 credits per image, free plan, num_images 1–4


def create(api, body, **headers):
    return api.post("/api/v1/generations", body, format="json", **headers)


def test_create_answers_202_with_the_generation_object_and_charges(
    alice, alice_api, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(alice_api, {"model": FAST, "input": {"prompt": "a fox", "num_images": 2}})

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {
        "id", "model", "status", "input", "credits_charged", "refunded", "images", "error",
        "created_at", "completed_at",
    }  # fmt: skip
    assert body["id"].startswith("gen_") and len(body["id"]) == 30
    assert body["model"] == FAST
    assert body["status"] == "queued"
    assert body["input"]["prompt"] == "a fox"
    assert body["credits_charged"] == 8
    assert body["refunded"] is False
    assert body["images"] == [] and body["error"] is None and body["completed_at"] is None
    generation = Generation.objects.get(public_id=body["id"])
    assert generation.source == "api"
    assert alice.account.__class__.objects.get(user=alice).balance == 1000 - 8
    assert ("generation.tasks.generation_dispatch", ()) in enqueued


def test_quote_costs_nothing_and_applies_the_partner_discount(alice, alice_api):
    PartnerSettings.objects.filter(user=alice).update(discount_percent=25)

    response = alice_api.post(
        "/api/v1/quotes", {"model": FAST, "input": {"prompt": "a fox", "num_images": 3}}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "model": FAST, "variant": "", "unit": "image", "unit_credits": 4, "images": 3,
        "base_credits": 12, "discount_percent": 25, "credits": 9,
    }  # fmt: skip
    assert alice.account.__class__.objects.get(user=alice).balance == 1000
    assert not LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).exists()


def _sample_input(model, variant):
    """Return a valid input for `model` selecting `variant`, with 2 images where a count is allowed."""
    data = {}
    schema = model.input_schema
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if "enum" in prop:
            data[name] = prop["enum"][0]
        elif prop.get("type") == "array":
            data[name] = ["https://images.example.com/in.png"] * max(1, prop.get("minItems", 1))
        elif prop.get("format") == "uri":
            data[name] = "https://images.example.com/in.png"
        elif prop.get("type") == "integer":
            data[name] = prop.get("minimum", 1)
        else:
            data[name] = "a lighthouse at dawn"
    if model.variant_field and variant:
        data[model.variant_field] = variant
    if model.count_field:
        count = schema["properties"][model.count_field]
        allowed = count.get("enum") or range(count.get("minimum", 1), count.get("maximum", 1) + 1)
        data[model.count_field] = 2 if 2 in allowed else min(allowed)
    return data


@pytest.mark.parametrize("discount", [0, 15])
def test_quote_equals_the_charge_for_every_model_and_variant(alice, alice_api, enqueued, discount):
    PartnerSettings.objects.filter(user=alice).update(discount_percent=discount)
    grant(alice, 100_000)
    checked = 0
    for model in AIModel.objects.filter(is_active=True).prefetch_related("prices"):
        for price in model.prices.all():
            body = {"model": model.slug, "input": _sample_input(model, price.variant)}

            quote = alice_api.post("/api/v1/quotes", body, format="json")
            before = alice.account.__class__.objects.get(user=alice).balance
            created = create(alice_api, body)
            after = alice.account.__class__.objects.get(user=alice).balance

            assert quote.status_code == 200, (model.slug, quote.json())
            assert created.status_code == 202, (model.slug, created.json())
            credits = quote.json()["credits"]
            assert created.json()["credits_charged"] == credits, (model.slug, price.variant)
            assert before - after == credits
            assert Generation.objects.get(public_id=created.json()["id"]).price_id == price.pk
            checked += 1
    assert checked == 25


def test_generation_list_is_newest_first_filtered_and_cursor_paginated(alice, alice_api, enqueued):
    ids = [create(alice_api, {"model": FAST, "input": {"prompt": f"p{i}"}}).json()["id"] for i in range(5)]
    Generation.objects.filter(public_id=ids[0]).update(status=Status.FAILED)

    page1 = alice_api.get("/api/v1/generations?limit=2").json()
    page2 = alice_api.get(page1["next"]).json()
    page3 = alice_api.get(page2["next"]).json()
    failed = alice_api.get("/api/v1/generations?status=failed").json()

    assert [g["id"] for g in page1["results"] + page2["results"] + page3["results"]] == ids[::-1]
    assert page3["next"] is None
    assert [g["id"] for g in failed["results"]] == [ids[0]]


def test_generation_list_rejects_a_bad_status_or_cursor(alice_api):
    bad_status = alice_api.get("/api/v1/generations?status=done")
    bad_cursor = alice_api.get("/api/v1/generations?cursor=garbage")

    assert bad_status.status_code == 400
    assert "status" in bad_status.json()["error"]["details"]
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["error"]["details"]


def test_limit_over_100_is_refused_not_capped(alice_api):
    response = alice_api.get("/api/v1/ledger?limit=1000")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["limit"]


def test_retrieve_one_generation(alice_api, enqueued):
    created = create(alice_api, {"model": FAST, "input": {"prompt": "a fox"}}).json()

    response = alice_api.get(f"/api/v1/generations/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


def test_a_key_never_sees_another_accounts_generation_ledger_or_balance(alice_api, bob_api, enqueued):
    bobs = create(bob_api, {"model": FAST, "input": {"prompt": "bob's"}}).json()

    other = alice_api.get(f"/api/v1/generations/{bobs['id']}")
    unknown = alice_api.get("/api/v1/generations/gen_00000000000000000000000000")
    listing = alice_api.get("/api/v1/generations").json()
    ledger = alice_api.get("/api/v1/ledger").json()
    balance = alice_api.get("/api/v1/balance").json()

    assert other.status_code == 404
    assert (
        other.json()
        == unknown.json()
        == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
    )
    assert listing["results"] == []
    assert all(entry["reference"] != bobs["id"] for entry in ledger["results"])
    assert [entry["amount"] for entry in ledger["results"]] == [1000]
    assert balance["credits"] == 1000


def test_ledger_shows_the_charge(alice_api, enqueued):
    created = create(alice_api, {"model": FAST, "input": {"prompt": "a fox"}}).json()

    entries = alice_api.get("/api/v1/ledger").json()["results"]

    assert set(entries[0]) == {"id", "kind", "amount", "balance_after", "reference", "created_at"}
    assert entries[0]["kind"] == "generation_charge"
    assert entries[0]["amount"] == -4
    assert entries[0]["reference"] == created["id"]
    assert entries[0]["balance_after"] == 996


# --- Bad input: 400 with details, nothing charged ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {"prompt": "x"}}, "model"),
        ({"model": FAST}, "input"),
        ({"model": FAST, "input": "a fox"}, "input"),
        ({"model": 42, "input": {"prompt": "x"}}, "model"),
        ({"model": "no/such-model", "input": {"prompt": "x"}}, "model"),
        ({"model": FAST, "input": {}}, "input.prompt"),
        ({"model": FAST, "input": {"prompt": "x", "num_images": "two"}}, "input.num_images"),
        ({"model": FAST, "input": {"prompt": "x", "num_images": 9}}, "input.num_images"),
        ({"model": FAST, "input": {"prompt": "x", "nonsense": 1}}, "input.nonsense"),
        ({"model": FAST, "input": {"prompt": "x"}, "webhook_url": "not a url"}, "webhook_url"),
        ({"model": FAST, "input": {"prompt": "x"}, "webhook_url": 5}, "webhook_url"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/generations", "/api/v1/quotes"])
def test_bad_body_is_400_with_details_and_charges_nothing(alice, alice_api, enqueued, body, field, path):
    response = alice_api.post(path, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["details"], error
    assert not Generation.objects.exists()
    assert alice.account.__class__.objects.get(user=alice).balance == 1000


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"just a string"', b""])
def test_malformed_json_is_400_and_charges_nothing(alice, alice_api, raw):
    response = alice_api.post("/api/v1/generations", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.8/x", "https://[::1]/x",
     "https://169.254.169.254/latest/meta-data", "https://localhost/x"],
)  # fmt: skip
def test_private_or_plain_http_webhook_url_is_400_when_not_allowed(alice, alice_api, settings, url):
    settings.ARTIO_WEBHOOK_ALLOW_PRIVATE = False

    response = create(alice_api, {"model": FAST, "input": {"prompt": "x"}, "webhook_url": url})

    assert response.status_code == 400
    assert "webhook_url" in response.json()["error"]["details"]
    assert not Generation.objects.exists()


def test_insufficient_credits_is_402_with_required_and_balance(make_user, enqueued):
    from artio.services import api_key_create

    poor = make_user()
    grant(poor, 3)
    api = client_for(api_key_create(user=poor)[1])

    response = create(api, {"model": FAST, "input": {"prompt": "x", "num_images": 2}})

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert response.json()["error"]["details"] == {"required": 8, "balance": 3}


def test_model_above_the_plan_is_403_plan_required(make_user):
    from artio.services import api_key_create

    free = make_user()
    grant(free, 100)
    api = client_for(api_key_create(user=free)[1])

    response = api.post(
        "/api/v1/quotes", {"model": "google/imagen4-ultra", "input": {"prompt": "x"}}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_required"


def test_paused_dispatch_is_503_provider_unavailable(alice, alice_api):
    from generation.pipeline import dispatch_pause

    dispatch_pause(reason="KIE out of credits")

    response = create(alice_api, {"model": FAST, "input": {"prompt": "x"}})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"
    assert alice.account.__class__.objects.get(user=alice).balance == 1000


def test_image_urls_from_partners_are_passed_through_not_fetched(alice_api, enqueued):
    response = create(
        alice_api, {"model": "recraft/remove-background", "input": {"image": "https://img.example.com/a.png"}}
    )

    assert response.status_code == 202
    assert response.json()["input"]["image"] == "https://img.example.com/a.png"


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/api/v1/generations/a/b", "/api/v1/generations/x%0Ay"]
)
def test_unmatched_api_paths_answer_the_json_404(alice_api, path):
    response = alice_api.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_models_show_the_partners_discounted_price_to_its_key_only(alice, alice_api):
    from rest_framework.test import APIClient

    PartnerSettings.objects.filter(user=alice).update(discount_percent=25)

    def ultra_price(client):
        models = client.get("/api/v1/models").json()
        return next(m for m in models if m["slug"] == "google/imagen4-ultra")["prices"][0]["credits"]

    assert ultra_price(APIClient()) == 12
    assert ultra_price(alice_api) == 9
    quote = alice_api.post(
        "/api/v1/quotes", {"model": "google/imagen4-ultra", "input": {"prompt": "x"}}, format="json"
    )
    assert quote.json()["credits"] == 9
