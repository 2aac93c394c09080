"""The Generate page, the result page and the gallery, as a signed-in user sees them."""

import pytest
from django.urls import reverse

from billing.models import LedgerEntry
from generation import services
from generation.models import Generation, Status

FAST = "google/imagen4-fast"


def make(user, prompt="a lighthouse at dusk", **extra):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": prompt, **extra})


@pytest.mark.django_db
def test_generate_page_shows_models_by_family_with_locked_ones_and_the_price(alice_client, alice, fund):
    fund(alice, 50)
    response = alice_client.get(reverse("generate") + f"?model={FAST}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Google / Imagen" in html and "Flux-2" in html
    assert "Imagen 4 Ultra" in html and "Premium plan" in html  # visible but locked
    assert "Generate 1 image · 4 credits" in html
    assert 'aria-live="polite"' in html
    assert 'for="id_prompt"' in html and 'data-max="5000"' in html
    # No maxlength: the browser would cut a long paste silently; the page counts and refuses instead.
    assert "maxlength" not in html


@pytest.mark.django_db
def test_quote_endpoint_recomputes_the_button_from_the_same_pricing(alice_client, alice, fund):
    fund(alice, 50)
    response = alice_client.get(reverse("generate-quote"), {"model": FAST, "num_images": "3", "prompt": ""})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Generate 3 images · 12 credits" in html
    assert "Balance after: 38" in html
    assert "<html" not in html  # only the fragment


@pytest.mark.django_db
def test_short_balance_offers_a_top_up_that_keeps_the_form(alice_client, alice, fund):
    fund(alice, 5)
    response = alice_client.get(
        reverse("generate-quote"), {"model": FAST, "num_images": "2", "prompt": "a cat"}
    )
    html = response.content.decode()
    assert "You need 3 more credits" in html
    assert "/billing/?next=%2Fgenerate%2F%3Fmodel%3Dgoogle%252Fimagen4-fast" in html
    assert "num_images%3D2" in html and "prompt%3Da%2Bcat" in html
    # and the prefill link reopens the form as it was
    page = alice_client.get(reverse("generate"), {"model": FAST, "num_images": "2", "prompt": "a cat"})
    assert "Generate 2 images · 8 credits" in page.content.decode()
    assert "a cat</textarea>" in page.content.decode()


@pytest.mark.django_db
def test_posting_the_form_charges_and_redirects_to_the_result(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    response = alice_client.post(
        reverse("generate"), {"model": FAST, "prompt": "a cat", "num_images": "2", "aspect_ratio": "1:1"}
    )
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert response.url == f"/generations/{generation.public_id}/"
    assert generation.credits_charged == 8 and generation.input["num_images"] == 2
    assert generation.input["aspect_ratio"] == "1:1"


@pytest.mark.django_db
def test_posting_with_too_few_credits_shows_the_error_and_keeps_the_input(alice_client, alice, fund, tasks):
    fund(alice, 3)
    response = alice_client.post(reverse("generate"), {"model": FAST, "prompt": "a cat", "num_images": "1"})
    html = response.content.decode()
    assert response.status_code == 402
    assert "This costs 4 credits; your balance is 3." in html
    assert "a cat</textarea>" in html
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_result_page_polls_until_terminal_and_announces_the_outcome(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    url = reverse("generation-detail", args=[generation.public_id])
    html = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html and "Queued" in html and "a lighthouse at dusk" in html
    fragment = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'role="status"' in fragment
    services.generation_cancel(generation_id=generation.pk)
    refunded = alice_client.get(url, HTTP_HX_REQUEST="true")
    fragment = refunded.content.decode()
    assert "every 2s" not in fragment
    assert "4 credits refunded" in fragment and "Failed" in fragment
    assert refunded["HX-Trigger"] == "balance-changed"  # the header's balance refreshes


@pytest.mark.django_db
def test_other_users_generations_are_404(client, alice, bob, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    client.force_login(bob)
    assert client.get(reverse("generation-detail", args=[generation.public_id])).status_code == 404
    assert client.post(reverse("generation-rerun", args=[generation.public_id])).status_code == 404
    assert client.post(reverse("generation-delete", args=[generation.public_id])).status_code == 404
    assert client.post(reverse("generation-cancel", args=[generation.public_id])).status_code == 404
    generation.refresh_from_db()
    assert generation.deleted_at is None and generation.status == Status.QUEUED
    assert Generation.objects.count() == 1
    assert generation.public_id not in client.get(reverse("generation-list")).content.decode()


@pytest.mark.django_db
def test_pages_need_sign_in(client):
    assert client.get(reverse("generate")).status_code == 302
    assert client.get(reverse("generation-list")).status_code == 302


@pytest.mark.django_db
def test_delete_moves_to_the_trash_and_keeps_the_ledger(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    response = alice_client.post(reverse("generation-delete", args=[generation.public_id]))
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.deleted_at is not None
    assert LedgerEntry.objects.filter(reference=generation.public_id).count() == 1
    # The next gallery page offers "Undo" once; the card itself is gone.
    first = alice_client.get(reverse("generation-list")).content.decode()
    assert reverse("generation-restore", args=[generation.public_id]) in first
    assert reverse("generation-detail", args=[generation.public_id]) + '"' not in first
    assert generation.public_id not in alice_client.get(reverse("generation-list")).content.decode()
    assert alice_client.get(reverse("generation-delete", args=[generation.public_id])).status_code == 405


@pytest.mark.django_db
def test_rerun_creates_a_new_charged_generation_with_the_same_input(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    first = make(alice, num_images=2, aspect_ratio="9:16")
    response = alice_client.post(reverse("generation-rerun", args=[first.public_id]))
    second = Generation.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302 and response.url == second.get_absolute_url()
    assert second.input == first.input and second.credits_charged == 8
    assert second.status == Status.QUEUED
