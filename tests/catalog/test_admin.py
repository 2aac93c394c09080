import json
from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import AIModel, CatalogSettings, CreditPack, Price, PriceChange


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def flux_pro():
    return AIModel.objects.get(slug="flux-2/pro-text-to-image")


def model_form_data(model, **overrides):
    """Return the POST body of the model's change form as it stands, with `overrides`."""
    data = {
        "slug": model.slug,
        "kie_model": model.kie_model,
        "name": model.name,
        "family": model.family,
        "kind": model.kind,
        "description": model.description,
        "min_plan": model.min_plan,
        "is_active": "on" if model.is_active else "",
        "sort_order": model.sort_order,
        "count_field": model.count_field,
        "variant_field": model.variant_field,
        "images_per_task": model.images_per_task,
        "typical_seconds": model.typical_seconds,
        "input_schema": json.dumps(model.input_schema),
    }
    prices = list(model.prices.order_by("id"))
    data.update(
        {
            "prices-TOTAL_FORMS": len(prices),
            "prices-INITIAL_FORMS": len(prices),
            "prices-MIN_NUM_FORMS": 0,
            "prices-MAX_NUM_FORMS": 1000,
        }
    )
    for i, price in enumerate(prices):
        data.update(
            {
                f"prices-{i}-id": price.pk,
                f"prices-{i}-model": model.pk,
                f"prices-{i}-variant": price.variant,
                f"prices-{i}-unit": price.unit,
                f"prices-{i}-kie_credits": str(price.kie_credits),
                f"prices-{i}-credits": price.credits,
            }
        )
    data.update(overrides)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name",
    [
        "admin:catalog_aimodel_changelist",
        "admin:catalog_price_changelist",
        "admin:catalog_price_cost_table",
        "admin:catalog_pricechange_changelist",
        "admin:catalog_creditpack_changelist",
        "admin:catalog_aimodel_add",
    ],
)
def test_admin_pages_render_for_a_superuser(admin_client, url_name):
    assert admin_client.get(reverse(url_name)).status_code == 200


@pytest.mark.django_db
def test_admin_change_pages_render_with_prices_and_history(admin_client, flux_pro):
    response = admin_client.get(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Changes (newest first)" in body
    assert "Seed catalogue" in body  # the first history row of each price
    assert "$0.0250 (50.0%)" in body  # inline margin of 1K: 5 credits ($0.05) − 5 KIE credits ($0.025)
    price = flux_pro.prices.first()
    assert admin_client.get(reverse("admin:catalog_price_change", args=[price.pk])).status_code == 200
    pack = CreditPack.objects.first()
    assert admin_client.get(reverse("admin:catalog_creditpack_change", args=[pack.pk])).status_code == 200


@pytest.mark.django_db
def test_settings_changelist_goes_to_the_single_row(admin_client):
    response = admin_client.get(reverse("admin:catalog_catalogsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:catalog_catalogsettings_change", args=[1])
    assert admin_client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_price_changelist_marks_prices_below_cost(admin_client):
    Price.objects.filter(model__slug="google/imagen4-ultra").update(credits=3)  # KIE 12 credits = $0.06
    body = admin_client.get(reverse("admin:catalog_price_changelist")).content.decode()
    assert body.count("▼ $") == 1
    assert "▼ $0.03 below cost" in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        ({"model__family__exact": "qwen"}, {"qwen/text-to-image", "qwen/image-to-image"}),
        ({"model__kind__exact": "upscale"}, {"recraft/crisp-upscale"}),
        ({"unit__exact": "task"}, {"grok-imagine/text-to-image"}),
        ({"q": "seedream/4.5-edit"}, {"seedream/4.5-edit"}),
    ],
)
def test_price_list_filters_and_searches(admin_client, query, slugs):
    response = admin_client.get(reverse("admin:catalog_price_changelist"), query)
    shown = {price.model.slug for price in response.context["cl"].result_list}
    assert shown == slugs


@pytest.mark.django_db
def test_price_change_form_edit_writes_price_change(admin_client, staff):
    price = Price.objects.get(model__slug="google/imagen4")
    response = admin_client.post(
        reverse("admin:catalog_price_change", args=[price.pk]),
        {"variant": "", "unit": price.unit, "kie_credits": "6.000", "credits": "9"},
    )
    assert response.status_code == 302
    price.refresh_from_db()
    assert price.credits == 9
    change = PriceChange.objects.filter(price=price).first()
    assert (change.old_credits, change.new_credits, change.changed_by) == (6, 9, staff)


def changelist_edit(admin_client, price, credits):
    return admin_client.post(
        reverse("admin:catalog_price_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(price.pk),
            "form-0-credits": credits,
            "_save": "Save",
        },
    )


@pytest.mark.django_db
def test_list_editable_retail_credits_write_history(admin_client, staff):
    price = Price.objects.get(model__slug="recraft/remove-background")
    response = changelist_edit(admin_client, price, "5")
    assert response.status_code == 302
    price.refresh_from_db()
    assert price.credits == 5
    change = PriceChange.objects.filter(price=price).first()
    assert (change.old_credits, change.new_credits, change.changed_by) == (2, 5, staff)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("-3", "Retail credits must be at least 1."),
        ("0", "Retail credits must be at least 1."),
        ("2.5", "Retail credits must be a whole number"),
        ("abc", "Retail credits must be a whole number"),
    ],
)
def test_bad_retail_is_refused_with_a_clear_message(admin_client, bad, message):
    price = Price.objects.get(model__slug="recraft/remove-background")
    history = PriceChange.objects.count()

    in_list = changelist_edit(admin_client, price, bad)
    in_form = admin_client.post(
        reverse("admin:catalog_price_change", args=[price.pk]),
        {"variant": "", "unit": price.unit, "kie_credits": "2", "credits": bad},
    )

    for response in (in_list, in_form):
        assert response.status_code == 200
        assert message in response.content.decode()
    price.refresh_from_db()
    assert price.credits == 2
    assert PriceChange.objects.count() == history


@pytest.mark.django_db
def test_a_variant_already_priced_is_refused_with_a_message(admin_client, flux_pro):
    one_k = flux_pro.prices.get(variant="1K")
    url = reverse("admin:catalog_price_change", args=[one_k.pk])

    on_price_page = admin_client.post(
        url, {"variant": "2K", "unit": "image", "kie_credits": "5", "credits": "5"}
    )
    data = model_form_data(flux_pro)
    first = data["prices-0-variant"]
    data["prices-0-variant"] = "2K" if first == "1K" else "1K"
    on_model_page = admin_client.post(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]), data)

    assert on_price_page.status_code == 200
    assert "This model already has a price for variant &#x27;2K&#x27;." in on_price_page.content.decode()
    assert on_model_page.status_code == 200
    assert "Price with this Model and Variant already exists." in on_model_page.content.decode()
    assert set(flux_pro.prices.values_list("variant", flat=True)) == {"1K", "2K"}


@pytest.mark.django_db
def test_inline_price_edit_on_the_model_page_writes_history(admin_client, staff, flux_pro):
    data = model_form_data(flux_pro)
    two_k = next(i for i in range(2) if data[f"prices-{i}-variant"] == "2K")
    data[f"prices-{two_k}-credits"] = "11"

    response = admin_client.post(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    price = flux_pro.prices.get(variant="2K")
    assert price.credits == 11
    change = PriceChange.objects.filter(price=price).first()
    assert (change.old_credits, change.new_credits, change.changed_by) == (7, 11, staff)
    assert flux_pro.prices.get(variant="1K").changes.count() == 1  # untouched: only its seed row


@pytest.mark.django_db
def test_inline_bad_retail_is_refused(admin_client, flux_pro):
    data = model_form_data(flux_pro, **{"prices-0-credits": "-1"})
    response = admin_client.post(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]), data)
    assert response.status_code == 200
    assert "Retail credits must be at least 1." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ("{not json", "Enter a valid JSON"),
        (
            json.dumps({"type": "object", "properties": {"prompt": {"type": "text"}}}),
            "Input schema is not valid",
        ),
        (json.dumps({"type": "array"}), "Input schema is not valid"),
        (json.dumps({"type": "object", "properties": {}, "required": ["prompt"]}), "Required fields"),
        (json.dumps({"type": "object", "properties": {"prompt": {"type": "string"}}}), "resolution"),
    ],
)
def test_malformed_input_schema_is_refused(admin_client, flux_pro, schema_text, message):
    before = flux_pro.input_schema
    data = model_form_data(flux_pro, input_schema=schema_text)

    response = admin_client.post(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    flux_pro.refresh_from_db()
    assert flux_pro.input_schema == before


@pytest.mark.django_db
def test_valid_schema_edit_is_saved(admin_client, flux_pro):
    schema = dict(flux_pro.input_schema)
    schema["properties"] = {
        **schema["properties"],
        "prompt": {**schema["properties"]["prompt"], "maxLength": 100},
    }
    data = model_form_data(flux_pro, input_schema=json.dumps(schema))
    response = admin_client.post(reverse("admin:catalog_aimodel_change", args=[flux_pro.pk]), data)
    assert response.status_code == 302
    flux_pro.refresh_from_db()
    assert flux_pro.input_schema["properties"]["prompt"]["maxLength"] == 100


@pytest.mark.django_db
def test_bulk_action_asks_for_a_factor_then_sets_retail_from_kie(admin_client, staff):
    prices = Price.objects.filter(model__slug__in=["google/imagen4-fast", "seedream/4.5-edit"])
    pks = [str(p.pk) for p in prices]
    url = reverse("admin:catalog_price_changelist")
    base = {"action": "set_retail_from_kie", "_selected_action": pks}

    # given: the intermediate page asks for the factor and changes nothing yet
    ask = admin_client.post(url, base)
    assert ask.status_code == 200
    assert "Factor" in ask.content.decode()
    assert not PriceChange.objects.filter(changed_by=staff).exists()

    # a bad factor is refused on the same page
    bad = admin_client.post(url, {**base, "factor": "0", "apply": "1"})
    assert bad.status_code == 200
    assert "The factor must be greater than 0." in bad.content.decode()

    # preview shows the new prices without saving
    preview = admin_client.post(url, {**base, "factor": "1.3", "preview": "1"})
    assert "<strong>11</strong>" in preview.content.decode()  # ceil(8 × 1.3) = ceil(10.4)
    assert not PriceChange.objects.filter(changed_by=staff).exists()

    # when
    done = admin_client.post(url, {**base, "factor": "1.3", "apply": "1"})

    # then: ceil(4×1.3)=6, ceil(5×1.3)=7, ceil(8×1.3)=11
    assert done.status_code == 302
    got = {
        (p.model.slug, p.variant): p.credits for p in Price.objects.filter(pk__in=pks).select_related("model")
    }
    assert got == {
        ("google/imagen4-fast", ""): 6,
        ("seedream/4.5-edit", "basic"): 7,
        ("seedream/4.5-edit", "high"): 11,
    }
    assert PriceChange.objects.filter(changed_by=staff).count() == 3


@pytest.mark.django_db
def test_cost_table_lists_every_price_per_1000_images(admin_client):
    body = admin_client.get(reverse("admin:catalog_price_cost_table")).content.decode()
    assert body.count('<tr class="cost-row">') == Price.objects.count()
    assert '<td class="num">4000</td>' in body  # Imagen 4 Fast: 4,000 KIE credits, as in the seed
    assert "$20.00" in body  # ... costing $20
    assert "$60.00" in body  # Imagen 4 Ultra
    # Breadcrumbs in Django 6's markup (styled like every admin page), back to the price list.
    assert f'<li><a href="{reverse("admin:catalog_price_changelist")}">Prices</a></li>' in body


@pytest.mark.django_db
def test_cost_table_needs_staff(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:catalog_price_cost_table"))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
def test_price_history_admin_is_read_only(admin_client):
    change = PriceChange.objects.first()
    url = reverse("admin:catalog_pricechange_change", args=[change.pk])
    assert admin_client.get(reverse("admin:catalog_pricechange_add")).status_code == 403
    response = admin_client.post(url, {"note": "rewritten"})
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.note == "Seed catalogue"


@pytest.mark.django_db
def test_settings_edit_changes_margins(admin_client):
    url = reverse("admin:catalog_catalogsettings_change", args=[1])
    response = admin_client.post(url, {"usd_per_kie_credit": "0.005", "usd_per_credit": "0.002"})
    assert response.status_code == 302
    assert CatalogSettings.load().usd_per_credit == Decimal("0.002")
    body = admin_client.get(reverse("admin:catalog_price_changelist")).content.decode()
    assert body.count("▼ $") == Price.objects.count()
