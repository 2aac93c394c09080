"""Saving a below-cost price in the admin warns loudly, naming the model, variant, cost and price."""

import pytest
from django.contrib.messages import ERROR, SUCCESS, get_messages
from django.urls import reverse

from catalog.models import Price
from tests.catalog.test_admin import changelist_edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def levels(response):
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def test_a_below_cost_edit_in_the_price_list_is_an_error_message(admin_client):
    price = Price.objects.get(model__slug="google/imagen4-ultra")  # 12 KIE credits = $0.06

    response = changelist_edit(admin_client, price, "5")  # 5 credits = $0.05

    price.refresh_from_db()
    assert price.credits == 5  # saved: staff may mean it, but they are told
    errors = [text for level, text in levels(response) if level == ERROR]
    assert errors == [
        "Below cost: Imagen 4 Ultra sells for 5 credits = $0.05 at the base rate but costs $0.06 at KIE "
        "(12 KIE credits): a loss of $0.01 per image. Raise its retail credits unless the loss is meant."
    ]


def test_the_variant_is_named_when_the_change_form_saves_below_cost(admin_client):
    price = Price.objects.get(model__slug="flux-2/flex-text-to-image", variant="2K")  # 24 KIE credits

    response = admin_client.post(
        reverse("admin:catalog_price_change", args=[price.pk]),
        {"variant": "2K", "unit": price.unit, "kie_credits": "24.000", "credits": "10"},
        follow=True,
    )

    page = response.content.decode()
    assert "Below cost: Flux-2 Flex (2K) sells for 10 credits = $0.10" in page
    assert "costs $0.12 at KIE" in page and 'class="error"' in page


def test_a_profitable_edit_only_says_it_was_saved(admin_client):
    price = Price.objects.get(model__slug="google/imagen4-ultra")

    response = changelist_edit(admin_client, price, "20")

    assert [level for level, _ in levels(response)] == [SUCCESS]
