import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from catalog.models import AIModel, CatalogSettings, Price, PriceChange, PriceUnit
from catalog.selectors import cost_table, model_get_active, models_for_pricing, price_margin
from catalog.services import (
    catalog_seed,
    input_schema_clean,
    price_details_set,
    price_update,
    prices_set_retail_from_kie,
)


@pytest.fixture
def imagen_fast(db):
    return Price.objects.get(model__slug="google/imagen4-fast")


def test_price_update_records_old_and_new_with_who(imagen_fast, staff):
    change = price_update(price=imagen_fast, credits=7, changed_by=staff, note="margin")

    imagen_fast.refresh_from_db()
    assert imagen_fast.credits == 7
    assert (change.old_credits, change.new_credits) == (4, 7)
    assert (change.old_kie_credits, change.new_kie_credits) == (Decimal(4), Decimal(4))
    assert change.changed_by == staff
    assert change.note == "margin"


def test_price_update_of_kie_credits_keeps_retail(imagen_fast, staff):
    change = price_update(price=imagen_fast, kie_credits=Decimal("4.5"), changed_by=staff)

    imagen_fast.refresh_from_db()
    assert (imagen_fast.credits, imagen_fast.kie_credits) == (4, Decimal("4.5"))
    assert (change.old_kie_credits, change.new_kie_credits) == (Decimal(4), Decimal("4.5"))


def test_price_update_without_a_change_writes_no_history(imagen_fast, staff):
    before = PriceChange.objects.count()
    assert price_update(price=imagen_fast, credits=4, changed_by=staff) is None
    assert PriceChange.objects.count() == before


@pytest.mark.parametrize("bad", [0, -3, Decimal("2.5"), "2.5", "abc", True])
def test_price_update_refuses_non_positive_or_fractional_retail(imagen_fast, staff, bad):
    before = PriceChange.objects.count()
    with pytest.raises(ValidationError):
        price_update(price=imagen_fast, credits=bad, changed_by=staff)
    imagen_fast.refresh_from_db()
    assert imagen_fast.credits == 4
    assert PriceChange.objects.count() == before


def test_price_update_refuses_negative_kie_credits(imagen_fast, staff):
    with pytest.raises(ValidationError):
        price_update(price=imagen_fast, kie_credits=-1, changed_by=staff)


def test_retail_from_kie_rounds_up_and_records_each_change(staff):
    prices = list(Price.objects.filter(model__slug__startswith="flux-2/pro-text"))  # 5 and 7 KIE credits

    changed = prices_set_retail_from_kie(prices=prices, factor=Decimal("1.5"), changed_by=staff)

    assert changed == 2
    assert sorted(
        Price.objects.filter(model__slug="flux-2/pro-text-to-image").values_list("credits", flat=True)
    ) == [
        8,  # ceil(7.5)
        11,  # ceil(10.5)
    ]
    notes = PriceChange.objects.filter(price__in=prices, changed_by=staff).values_list("note", flat=True)
    assert len(notes) == 2
    assert all("× 1.5" in note for note in notes)


@pytest.mark.parametrize("factor", [0, -1, "NaN"])
def test_retail_from_kie_refuses_a_non_positive_factor(staff, factor):
    prices = list(Price.objects.filter(model__slug="google/imagen4"))
    with pytest.raises(ValidationError):
        prices_set_retail_from_kie(prices=prices, factor=factor, changed_by=staff)


def test_input_schema_clean_refuses_a_malformed_schema_or_a_missing_count_field():
    with pytest.raises(ValidationError, match="not valid"):
        input_schema_clean(schema={"type": "object", "properties": {"x": {"type": "nope"}}})

    def schema(name, kind):
        props = {name: {"type": kind, "title": name}}
        return {"type": "object", "additionalProperties": False, "properties": props}

    with pytest.raises(ValidationError, match="count field 'num_images'"):
        input_schema_clean(schema=schema("prompt", "string"), count_field="num_images")
    input_schema_clean(schema=schema("num_images", "integer"), count_field="num_images")
    # Valid JSON Schema, but not what KIE takes (ops' catalogue checks): an untyped field.
    with pytest.raises(ValidationError, match='"type" must be one of'):
        input_schema_clean(schema={"type": "object", "additionalProperties": False, "properties": {"x": {}}})


@pytest.mark.django_db
def test_price_details_set_records_a_unit_change_in_the_history(staff):
    price = Price.objects.get(model__slug="google/imagen4")

    change = price_details_set(price=price, variant="", unit=PriceUnit.PER_TASK, changed_by=staff)

    price.refresh_from_db()
    assert price.unit == PriceUnit.PER_TASK
    assert (change.old_credits, change.new_credits, change.changed_by) == (6, 6, staff)
    assert change.note == "unit image → task"
    assert price_details_set(price=price, variant="", unit=PriceUnit.PER_TASK, changed_by=staff) is None


@pytest.mark.django_db
def test_margin_is_retail_value_minus_kie_cost():
    settings = CatalogSettings.load()
    price = Price.objects.get(model__slug="google/imagen4")  # 6 retail credits, 6 KIE credits
    margin = price_margin(price=price, settings=settings)
    assert margin.retail_usd == Decimal("0.06")
    assert margin.cost_usd == Decimal("0.030")
    assert margin.margin_usd == Decimal("0.03")
    assert margin.margin_percent == Decimal("50.0")
    assert not margin.below_cost

    Price.objects.filter(pk=price.pk).update(credits=2)
    price.refresh_from_db()
    assert price_margin(price=price, settings=settings).below_cost


@pytest.mark.django_db
def test_cost_table_matches_the_seed_cost_analysis():
    rows = {(r.price.model.slug, r.price.variant): r for r in cost_table()}
    # docs/reference/kie-pricing-seed.md "Cost Analysis (per 1000 images)"
    assert rows[("google/imagen4-fast", "")].kie_credits == 4000
    assert rows[("google/imagen4-fast", "")].cost_usd == Decimal("20.00")
    assert rows[("google/imagen4-ultra", "")].cost_usd == Decimal("60.00")
    assert rows[("gpt-image/1.5-text-to-image", "")].cost_usd == Decimal("30.00")
    assert rows[("flux-2/pro-text-to-image", "1K")].cost_usd == Decimal("25.00")
    # Grok bills a task of 6 images: 8 credits per task is 1333.33 per 1000 images.
    assert rows[("grok-imagine/text-to-image", "")].kie_credits == Decimal("1333.33")


@pytest.mark.django_db
def test_pricing_groups_follow_family_and_hide_inactive_models():
    AIModel.objects.filter(slug="qwen/image-to-image").update(is_active=False)
    groups = models_for_pricing()
    assert [g.family for g in groups] == [
        "imagen",
        "flux-2",
        "gpt-image",
        "seedream",
        "qwen",
        "grok-imagine",
        "ideogram",
        "recraft",
    ]
    qwen = next(g for g in groups if g.family == "qwen")
    assert [m.slug for m in qwen.models] == ["qwen/text-to-image"]
    with pytest.raises(AIModel.DoesNotExist):
        model_get_active(slug="qwen/image-to-image")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_price_edits_each_record_the_value_they_replaced(staff):
    # given: the catalogue (an earlier transactional test may have flushed it), 20 edits at once
    catalog_seed()
    price = Price.objects.get(model__slug="google/imagen4")
    count = 20
    barrier = threading.Barrier(count)

    def edit(i):
        barrier.wait()
        try:
            price_update(price=Price.objects.get(pk=price.pk), credits=100 + i, changed_by=staff)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(edit, range(count)))

    # then: the history is one unbroken chain from the seed price to the price now
    changes = list(PriceChange.objects.filter(price=price).order_by("id"))
    assert len(changes) == count + 1
    assert (changes[0].old_credits, changes[0].new_credits) == (None, 6)
    for before, after in pairwise(changes):
        assert after.old_credits == before.new_credits
    assert Price.objects.get(pk=price.pk).credits == changes[-1].new_credits
