"""Compare: one prompt on up to four models, one ordinary charge each, all or nothing."""

import pytest
from django.urls import reverse

from billing.models import Account, LedgerEntry
from billing.services import InsufficientCredits
from generation import compare
from generation.models import Generation

FAST, IMAGEN, GPT, SEEDREAM, FLUX = (
    "google/imagen4-fast",
    "google/imagen4",
    "gpt-image/1.5-text-to-image",
    "seedream/4.5-text-to-image",
    "flux-2/flex-text-to-image",
)
HTMX = {"HTTP_HX_REQUEST": "true"}


def charges():
    return list(LedgerEntry.objects.filter(kind="generation_charge").order_by("id"))


@pytest.mark.django_db
def test_compare_starts_one_ordinary_generation_and_charge_per_model(alice, fund, tasks):
    fund(alice, 100, plan="standard")
    tasks.run = False
    generations = compare.compare_create(
        user=alice, prompt="a paper boat", model_slugs=[FAST, IMAGEN, GPT, SEEDREAM], aspect_ratio="16:9"
    )
    assert [g.model.slug for g in generations] == [FAST, IMAGEN, GPT, SEEDREAM]
    assert [c.reference for c in charges()] == [g.public_id for g in generations]
    assert [g.credits_charged for g in generations] == [4, 6, 6, 5]
    assert Account.objects.get(user=alice).balance == 100 - 21
    assert all(g.input["prompt"] == "a paper boat" for g in generations)
    assert generations[0].input["aspect_ratio"] == "16:9"


@pytest.mark.django_db
def test_a_balance_that_covers_only_some_models_starts_none(alice, fund, tasks):
    fund(alice, 12, plan="standard")  # enough for two of the three (4 + 6), not for 16
    with pytest.raises(InsufficientCredits) as refused:
        compare.compare_create(user=alice, prompt="a boat", model_slugs=[FAST, IMAGEN, GPT])
    assert refused.value.message == "This costs 16 credits; your balance is 12."
    assert not Generation.objects.exists() and not charges()
    assert Account.objects.get(user=alice).balance == 12


@pytest.mark.django_db
def test_a_charge_refused_midway_rolls_back_the_ones_before_it(alice, fund, tasks, monkeypatch):
    # The balance drops between the check and the charges (another tab spent it): the third
    # model's charge is refused, and the first two are undone with it.
    fund(alice, 12, plan="standard")
    monkeypatch.setattr(compare, "spend_check", lambda **kwargs: None)
    with pytest.raises(InsufficientCredits):
        compare.compare_create(user=alice, prompt="a boat", model_slugs=[FAST, IMAGEN, GPT])
    assert not Generation.objects.exists() and not charges()
    assert Account.objects.get(user=alice).balance == 12


@pytest.mark.django_db
def test_compare_refuses_more_than_four_models_locked_ones_and_an_empty_prompt(alice, fund, tasks):
    fund(alice, 100)
    with pytest.raises(compare.CompareError, match="at most 4"):
        compare.compare_create(user=alice, prompt="x", model_slugs=[FAST, IMAGEN, GPT, SEEDREAM, FLUX])
    with pytest.raises(compare.CompareError) as locked:
        compare.compare_create(user=alice, prompt="x", model_slugs=[FAST, "google/imagen4-ultra"])
    assert "Premium" in locked.value.details["google/imagen4-ultra"]
    with pytest.raises(compare.CompareError, match="prompt"):
        compare.compare_create(user=alice, prompt="  ", model_slugs=[FAST])
    with pytest.raises(compare.CompareError):
        compare.compare_create(user=alice, prompt="x", model_slugs=["google/nano-banana-edit"])
    assert not Generation.objects.exists() and not charges()


@pytest.mark.django_db
def test_compare_quote_shows_the_total_and_the_expected_time_first(client, alice, fund):
    fund(alice, 10, plan="standard")
    client.force_login(alice)
    response = client.get(reverse("compare-quote"), {"models": [FAST, IMAGEN, GPT], "prompt": ""})
    html = response.content.decode()
    assert "Compare 3 models · 16 credits" in html
    assert "About 60 s" in html  # they run side by side: the slowest model's typical time
    assert "You need 6 more credits" in html and "disabled" in html and "Top up</a>" in html


@pytest.mark.django_db
def test_compare_page_posts_and_shows_the_grid(client, alice, fund, tasks, django_assert_max_num_queries):
    fund(alice, 100, plan="standard")
    tasks.run = False
    client.force_login(alice)
    client.get(reverse("compare"))  # the catalogue's memory warm, as in a running process
    with django_assert_max_num_queries(12):
        page = client.get(reverse("compare"))
    assert page.status_code == 200 and page.content.decode().count('name="models"') == 9
    response = client.post(reverse("compare"), {"prompt": "a boat", "models": [FAST, GPT]}, **HTMX)
    html = response.content.decode()
    ids = list(Generation.objects.order_by("id").values_list("public_id", flat=True))
    assert response["HX-Trigger"] == "balance-changed"
    assert response["HX-Push-Url"] == reverse("compare") + "?ids=" + "%2C".join(ids)
    assert all(f'id="card-{i}"' in html for i in ids) and "compare-grid--2" in html
    # The pushed URL shows the same grid after a reload, in a bounded number of queries.
    with django_assert_max_num_queries(16):
        again = client.get(response["HX-Push-Url"])
    assert all(f'id="card-{i}"' in again.content.decode() for i in ids)


@pytest.mark.django_db
def test_compare_without_javascript_refuses_clearly_and_charges_nothing(client, alice, fund, tasks):
    fund(alice, 5, plan="standard")
    client.force_login(alice)
    response = client.post(reverse("compare"), {"prompt": "a boat", "models": [FAST, IMAGEN]})
    html = response.content.decode()
    assert response.status_code == 402
    assert "This costs 10 credits; your balance is 5." in html and "Nothing was charged." in html
    assert "a boat</textarea>" in html and not Generation.objects.exists()


@pytest.mark.django_db
def test_another_users_comparison_shows_nothing(client, alice, bob, fund, tasks):
    fund(alice, 100)
    tasks.run = False
    generations = compare.compare_create(user=alice, prompt="mine", model_slugs=[FAST])
    client.force_login(bob)
    html = client.get(reverse("compare"), {"ids": generations[0].public_id}).content.decode()
    assert generations[0].public_id not in html and "mine" not in html
