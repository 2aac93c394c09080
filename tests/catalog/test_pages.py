import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import AIModel, CreditPack, Family, Kind, Price
from catalog.money import usd_unit
from tests.catalog.test_seed import SEED_PRICES


def add_models(count):
    """Add `count` active models with two prices each, as a bigger catalogue would have."""
    for i in range(count):
        model = AIModel.objects.create(
            slug=f"extra/model-{i}",
            kie_model=f"extra/model-{i}",
            name=f"Extra model {i}",
            family=Family.QWEN if i % 2 else Family.RECRAFT,
            kind=Kind.TEXT_TO_IMAGE,
            input_schema={"type": "object", "properties": {"prompt": {"type": "string"}}},
            variant_field="size",
        )
        Price.objects.create(model=model, variant="small", kie_credits=Decimal(2), credits=3)
        Price.objects.create(model=model, variant="large", kie_credits=Decimal(4), credits=6)
    CreditPack.objects.create(name="Huge", price_cents=10000, credits=11500)


class PriceRows(HTMLParser):
    """Read the pricing tables as a reader sees them: {(slug, variant): (credits, dollars)}."""

    def __init__(self):
        super().__init__()
        self.rows, self.slug, self.cells, self.in_slug, self.in_td = {}, None, [], False, False

    def handle_starttag(self, tag, attrs):
        if tag == "code" and ("class", "model-slug") in attrs:
            self.in_slug, self.slug = True, ""
        elif tag == "tr":
            self.cells = []
        elif tag == "td":
            self.in_td = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self.in_slug = False
        elif tag == "td":
            self.in_td = False
        elif tag == "tr" and self.cells:
            option, credits, dollars = (" ".join(cell.split()) for cell in self.cells[:3])
            variant = "" if option == "One price" else option.split()[-1]
            self.rows[(self.slug, variant)] = (int(re.match(r"\d+", credits)[0]), dollars)

    def handle_data(self, data):
        if self.in_slug:
            self.slug += data
        elif self.in_td:
            self.cells[-1] += data


def queries_for(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url_name", "queries"),
    [
        ("home", 3),  # models, their prices, the base rate (for "from 4¢ an image")
        ("pricing", 5),  # models, prices, packs, settings, subscription plans
    ],
)
def test_pages_render_in_constant_queries_whatever_the_catalogue_size(
    client, django_assert_num_queries, url_name, queries
):
    url = reverse(url_name)
    baseline = queries_for(client, url)
    assert baseline == queries

    add_models(12)

    with django_assert_num_queries(baseline):
        response = client.get(url)
    assert "Extra model 11" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["home", "pricing"])
def test_pages_render_in_constant_queries_for_a_signed_in_user(client, alice, url_name):
    client.force_login(alice)
    url = reverse(url_name)
    baseline = queries_for(client, url)
    add_models(5)
    assert queries_for(client, url) == baseline


@pytest.mark.django_db
def test_pricing_lists_every_seed_price_with_dollars_and_plan(client):
    body = client.get(reverse("pricing")).content.decode()
    for family in Family.labels:
        assert family in body
    for price in Price.objects.select_related("model"):
        assert price.model.slug in body
    # Flux-2 Flex 2K: 24 credits = 24¢ at the base rate (the price of one image is written in cents).
    assert "<strong>24</strong>" in body
    assert "24¢" in body
    assert "2¢" in body  # Recraft remove background, 2 credits
    assert "per run (6 images)" in body  # Grok Imagine
    assert 'class="plan plan--premium">Premium' in body


@pytest.mark.django_db
def test_pricing_shows_all_25_seed_prices_with_the_seed_credits_and_dollars(client):
    parser = PriceRows()
    parser.feed(client.get(reverse("pricing")).content.decode())

    # At the base rate (1 credit = 1¢) the seed's credits are also its cents.
    assert parser.rows == {
        key: (credits, usd_unit(Decimal(credits) / 100)) for key, credits in SEED_PRICES.items()
    }


@pytest.mark.django_db
def test_pricing_shows_credit_packs_with_per_credit_price(client):
    body = client.get(reverse("pricing")).content.decode()
    assert "$25.00" in body
    assert "2,600" in body  # thousands separated, as on the billing page
    assert "0.96¢ per credit" in body  # $25 / 2600
    assert "+4% bonus" in body
    assert "1¢ per credit" in body  # the $5 pack, no bonus


@pytest.mark.django_db
def test_pricing_hides_inactive_models_and_packs(client):
    AIModel.objects.filter(slug="ideogram/character").update(is_active=False)
    CreditPack.objects.filter(price_cents=5000).update(is_active=False)
    body = client.get(reverse("pricing")).content.decode()
    assert "ideogram/character" not in body
    assert "Ideogram" not in body  # the family has no other model
    assert "$50.00" not in body


@pytest.mark.django_db
def test_pricing_follows_staff_price_edits(client):
    Price.objects.filter(model__slug="google/imagen4-ultra").update(credits=15)
    body = client.get(reverse("pricing")).content.decode()
    assert "15¢" in body


@pytest.mark.django_db
def test_home_says_what_artio_is_shows_families_and_invites_sign_up(client):
    body = client.get(reverse("home")).content.decode()
    assert "pay per image" in body
    for family in Family.labels:
        assert family in body
    assert reverse("account_signup") in body
    assert "Imagen 4 Fast" in body
    assert "Text to image · from 4¢ · ~10&nbsp;s" in body  # Imagen 4 Fast, 4 credits an image


@pytest.mark.django_db
def test_home_offers_generate_to_signed_in_users(client, alice):
    client.force_login(alice)
    body = client.get(reverse("home")).content.decode()
    assert reverse("generate") in body
    assert "Open the studio" in body
