"""The pages polish owns, over the test client: landing, ledger, receipts, favicon, header balance, themes."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from billing import services
from catalog.models import AIModel, Price

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent


# --- Landing ------------------------------------------------------------------------------------


def test_landing_sells_with_families_the_cheapest_image_and_sign_up(client):
    body = client.get("/").content.decode()

    # Grok Imagine: 8 credits a run of 6 images is the catalogue's cheapest image, 1.33¢.
    assert "From 1.33¢ an image." in body
    assert 'href="/accounts/signup/"' in body and "Sign up free" in body
    for family in ["Google / Imagen", "Flux-2", "GPT Image", "Seedream", "Recraft"]:
        assert family in body


def test_the_cheapest_image_follows_the_catalogue(client):
    Price.objects.filter(model__slug="grok-imagine/text-to-image").update(credits=60)
    Price.objects.filter(model__slug="recraft/remove-background").update(credits=30)

    body = client.get("/").content.decode()

    assert "From 3¢ an image." in body  # now Recraft crisp upscale, 3 credits


def test_models_without_a_sample_show_a_family_placeholder_and_with_one_the_image(client, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.MEDIA_ROOT = tmp_path
    body = client.get("/").content.decode()
    assert 'class="family-card__art art art--imagen"' in body
    assert "<img" not in body.split('id="models-title"')[0].split("hero__collage")[1]

    model = AIModel.objects.get(slug="google/imagen4-fast")
    model.sample_image.save("imagen.png", ContentFile(b"\x89PNG fake"), save=True)
    body = client.get("/").content.decode()

    assert f'src="{model.sample_image.url}" alt="An example made with Imagen 4 Fast"' in body


def test_signed_in_users_get_a_clear_way_to_the_studio(client, alice):
    client.force_login(alice)

    body = client.get("/").content.decode()

    assert '<a class="button button--large" href="/generate/">Open the studio</a>' in body
    assert "Sign up free" not in body


# --- Ledger and receipts ------------------------------------------------------------------------


@pytest.fixture
def alice_history(alice, history):
    return history(alice)


def test_ledger_speaks_plainly_without_staff_notes_or_raw_ids(client, alice, alice_history):
    client.force_login(alice)

    page = client.get("/billing/").content.decode()
    history = page.split('id="history-heading"')[1].split('id="topups-heading"')[0]
    text = re.sub(r"<[^>]+>", " ", history)

    assert "Credits added by Artio" in text
    assert "INTERNAL" not in page and "ticket" not in page  # the staff's reason
    assert "adj:" not in page and "kie_timeout" not in page
    assert "gen_polish1" not in text  # the id is in the link only
    assert "Imagen 4 Fast × 3" in text and "Refund: the generation failed" in text
    assert 'href="/generations/gen_polish1/">see the images<' in history


def test_csv_uses_the_same_plain_words(client, alice, alice_history):
    client.force_login(alice)

    body = b"".join(client.get("/billing/ledger.csv").streaming_content).decode()

    assert "INTERNAL" not in body and "adj:" not in body and "kie_timeout" not in body
    assert ",Credits added by Artio,40," in body
    assert "/generations/gen_polish1/" in body  # as a link the user can open


def test_only_a_paid_top_up_lists_a_receipt(client, alice, alice_history):
    paid, abandoned = alice_history
    client.force_login(alice)

    page = client.get("/billing/").content.decode()
    payments = page.split('id="topups-heading"')[1]

    assert payments.count(">Receipt</a>") == 1
    assert reverse("billing-receipt", args=[paid.public_id]) in payments
    assert reverse("billing-receipt", args=[abandoned.public_id]) not in page


def test_the_payment_page_offers_a_receipt_only_once_paid(client, alice, alice_history):
    paid, abandoned = alice_history
    client.force_login(alice)

    expired = client.get(reverse("billing-success"), {"session_id": abandoned.stripe_session_id})
    thanks = client.get(reverse("billing-success"), {"session_id": paid.stripe_session_id})

    assert "This checkout expired" in expired.content.decode()
    assert ">Receipt</a>" not in expired.content.decode()
    assert ">Receipt</a>" in thanks.content.decode()


def test_an_abandoned_checkout_is_not_called_a_receipt(client, alice, alice_history):
    paid, abandoned = alice_history
    client.force_login(alice)

    unpaid = client.get(reverse("billing-receipt", args=[abandoned.public_id])).content.decode()
    receipt = client.get(reverse("billing-receipt", args=[paid.public_id])).content.decode()

    assert "<h1>Checkout not paid</h1>" in unpaid and "<h1>Receipt</h1>" not in unpaid
    assert "no receipt" in unpaid
    assert "<h1>Receipt</h1>" in receipt and "1¢ per credit" in receipt


# --- Header balance -----------------------------------------------------------------------------


def test_header_balance_refreshes_on_balance_changed_and_when_the_tab_is_shown(client, alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=1234, reason="seed")
    client.force_login(alice)

    page = client.get("/pricing/").content.decode()
    span = re.search(r'<span hx-get="([^"]+)" hx-trigger="([^"]+)"[^>]*id="nav-balance">1,234<', page)
    assert span, "the header balance is not wired for refresh"
    assert "balance-changed from:body" in span.group(2) and "artio:visible from:body" in span.group(2)
    assert "visibilitychange" in (ROOT / "static/js/artio.js").read_text()

    services.credits_refund(account_id=account.pk, amount=6, reference="gen_r")  # e.g. a failed image
    response = client.get(span.group(1), headers={"HX-Request": "true"})

    assert response.status_code == 200 and response.content.decode() == "1,240"
    assert response["Cache-Control"] == "no-store"


def test_header_balance_fragment_needs_sign_in(client):
    assert client.get(reverse("billing-nav-balance")).status_code == 302


# --- Favicon and themes -------------------------------------------------------------------------


def test_favicon_is_linked_and_served(client):
    page = client.get("/").content.decode()
    svg = re.search(r'<link rel="icon" href="([^"]+\.svg)" type="image/svg\+xml">', page).group(1)
    png = re.search(r'<link rel="icon" href="([^"]+\.png)" sizes="32x32"', page).group(1)

    for url, kind in [(svg, "image/svg+xml"), (png, "image/png")]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith(kind)
    ico = client.get("/favicon.ico")
    assert ico.status_code == 301
    served = client.get(ico["Location"])
    assert served.status_code == 200 and b"".join(served.streaming_content)[:4] == b"\x00\x00\x01\x00"


def test_themes_follow_the_system_and_no_stylesheet_hard_codes_a_colour():
    artio = (ROOT / "static/css/artio.css").read_text()
    dark = artio.split("@media (prefers-color-scheme: dark)")[1].split("\n}\n")[0]
    for name in ["--bg", "--surface", "--text", "--muted", "--line", "--accent", "--on-accent"]:
        assert f"{name}:" in dark, name

    colour = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(|:\s*(white|black)\b")
    stray = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((ROOT / "static/css").glob("*.css"))
        if path.name != "artio.css"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if colour.search(line)
    ]
    assert stray == []


def test_one_money_rule_for_the_price_of_a_credit():
    # Decimal rates of a top-up, as stored, print without padding.
    from catalog.templatetags.catalog_extras import usd_unit_filter

    assert usd_unit_filter(Decimal("0.01000000")) == "1¢"
