from decimal import Decimal

import pytest
from django.core.management import call_command

from catalog.models import AIModel, CatalogSettings, CreditPack, Plan, Price, PriceChange, PriceUnit
from catalog.schemas import kie_schema, schema_check
from catalog.seed import SEED_MODELS
from catalog.services import catalog_seed

# Every price row of docs/reference/kie-pricing-seed.md: (slug, variant) -> credits.
SEED_PRICES = {
    ("google/imagen4-fast", ""): 4,
    ("google/imagen4", ""): 6,
    ("google/imagen4-ultra", ""): 12,
    ("google/nano-banana-edit", ""): 8,
    ("google/pro-image-to-image", ""): 15,
    ("flux-2/flex-text-to-image", "1K"): 14,
    ("flux-2/flex-text-to-image", "2K"): 24,
    ("flux-2/flex-image-to-image", "1K"): 14,
    ("flux-2/flex-image-to-image", "2K"): 24,
    ("flux-2/pro-text-to-image", "1K"): 5,
    ("flux-2/pro-text-to-image", "2K"): 7,
    ("flux-2/pro-image-to-image", "1K"): 5,
    ("flux-2/pro-image-to-image", "2K"): 7,
    ("gpt-image/1.5-text-to-image", ""): 6,
    ("gpt-image/1.5-image-to-image", ""): 6,
    ("seedream/4.5-text-to-image", "basic"): 5,
    ("seedream/4.5-text-to-image", "high"): 8,
    ("seedream/4.5-edit", "basic"): 5,
    ("seedream/4.5-edit", "high"): 8,
    ("qwen/text-to-image", ""): 5,
    ("qwen/image-to-image", ""): 5,
    ("grok-imagine/text-to-image", ""): 8,
    ("ideogram/character", ""): 10,
    ("recraft/crisp-upscale", ""): 3,
    ("recraft/remove-background", ""): 2,
}


@pytest.mark.django_db
def test_fresh_database_has_the_whole_seed_catalogue():
    assert AIModel.objects.count() == 19
    assert Price.objects.count() == 25
    loaded = {(p.model.slug, p.variant): p for p in Price.objects.select_related("model")}
    assert set(loaded) == set(SEED_PRICES)
    for key, credits in SEED_PRICES.items():
        assert loaded[key].credits == credits, key
        assert loaded[key].kie_credits == Decimal(credits), key


@pytest.mark.django_db
def test_seed_maps_pro_image_to_image_to_nano_banana_pro():
    assert AIModel.objects.get(slug="google/pro-image-to-image").kie_model == "nano-banana-pro"
    others = AIModel.objects.exclude(slug="google/pro-image-to-image")
    assert all(m.kie_model == m.slug for m in others)


@pytest.mark.django_db
def test_seed_minimum_plans_follow_the_tier_table():
    plans = dict(AIModel.objects.values_list("slug", "min_plan"))
    assert plans["google/imagen4-fast"] == Plan.FREE
    assert plans["google/imagen4"] == Plan.STANDARD
    assert plans["google/imagen4-ultra"] == Plan.PREMIUM
    assert plans["flux-2/pro-text-to-image"] == Plan.PREMIUM
    assert plans["flux-2/pro-image-to-image"] == Plan.PREMIUM


@pytest.mark.django_db
def test_grok_is_priced_per_task_of_six_images_and_counts_multiply_per_image():
    grok = AIModel.objects.get(slug="grok-imagine/text-to-image")
    assert grok.images_per_task == 6
    assert grok.prices.get().unit == PriceUnit.PER_TASK
    for slug in ("google/imagen4-fast", "ideogram/character"):
        model = AIModel.objects.get(slug=slug)
        assert model.count_field == "num_images"
        assert model.prices.get().unit == PriceUnit.PER_IMAGE


@pytest.mark.django_db
def test_seed_creates_packs_and_settings_at_the_base_rate():
    settings = CatalogSettings.objects.get(pk=1)
    assert settings.usd_per_kie_credit == Decimal("0.005")
    assert settings.usd_per_credit == Decimal("0.01")
    packs = list(CreditPack.objects.values_list("price_cents", "credits"))
    assert packs == [(500, 500), (1000, 1000), (2500, 2600), (5000, 5500)]


@pytest.mark.parametrize("entry", SEED_MODELS, ids=lambda e: e["slug"])
def test_every_seed_schema_is_a_usable_input_schema(entry):
    schema = entry["input_schema"]
    schema_check(schema)
    schema_check(kie_schema(schema))
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), name
    for field in (entry["count_field"], entry["variant_field"]):
        assert not field or field in schema["properties"]
    variants = {p["variant"] for p in entry["prices"]}
    if entry["variant_field"]:
        assert variants == set(schema["properties"][entry["variant_field"]]["enum"])
    else:
        assert variants == {""}


def test_kie_sees_num_images_as_a_string_and_we_see_an_integer():
    entry = next(e for e in SEED_MODELS if e["slug"] == "google/imagen4-fast")
    assert entry["input_schema"]["properties"]["num_images"]["type"] == "integer"
    kie = kie_schema(entry["input_schema"])["properties"]["num_images"]
    assert kie["type"] == "string"
    assert kie["enum"] == ["1", "2", "3", "4"]


def test_seed_seeds_are_typed_as_kie_documents_them():
    by_slug = {e["slug"]: e["input_schema"]["properties"] for e in SEED_MODELS}
    assert by_slug["google/imagen4-fast"]["seed"]["type"] == "integer"
    assert by_slug["google/imagen4"]["seed"] == {**by_slug["google/imagen4"]["seed"], "type": "string"}
    assert by_slug["google/imagen4"]["seed"]["maxLength"] == 500


@pytest.mark.django_db
def test_reseeding_creates_nothing_and_keeps_staff_edits(staff):
    # given: staff repriced, retired a model, edited a pack and the rates
    price = Price.objects.get(model__slug="google/imagen4-fast")
    Price.objects.filter(pk=price.pk).update(credits=9)
    AIModel.objects.filter(slug="qwen/text-to-image").update(is_active=False, description="retired")
    CreditPack.objects.filter(price_cents=500).update(credits=450)
    CatalogSettings.objects.filter(pk=1).update(usd_per_credit=Decimal("0.012"))
    history = PriceChange.objects.count()

    # when
    counts = catalog_seed()
    call_command("seed_catalog", verbosity=0)

    # then
    assert counts == {"models": 0, "prices": 0, "packs": 0, "settings": 0}
    assert Price.objects.get(pk=price.pk).credits == 9
    qwen = AIModel.objects.get(slug="qwen/text-to-image")
    assert (qwen.is_active, qwen.description) == (False, "retired")
    assert CreditPack.objects.get(price_cents=500).credits == 450
    assert CreditPack.objects.count() == 4
    assert CatalogSettings.objects.get().usd_per_credit == Decimal("0.012")
    assert PriceChange.objects.count() == history


@pytest.mark.django_db
def test_seeding_an_emptied_catalogue_restores_missing_rows_only():
    PriceChange.objects.all().delete()
    Price.objects.filter(model__slug="seedream/4.5-edit", variant="high").delete()
    Price.objects.filter(model__slug="recraft/remove-background").delete()
    AIModel.objects.filter(slug="recraft/remove-background").delete()

    counts = catalog_seed()

    assert counts["models"] == 1
    assert counts["prices"] == 2
    assert Price.objects.count() == 25
    assert Price.objects.get(model__slug="seedream/4.5-edit", variant="high").credits == 8
