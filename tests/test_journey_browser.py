"""A new user's whole journey in headless Chromium, at 390 and 1280 px: sign up and confirm the e-mail →
top up through the sandbox checkout → generate → compare → the library → favourite → delete and restore
→ export. Every page state goes through look() (CI screenshot and axe-core); every step asserts what
it did to the money, the rows and the mail, not only that a page loaded."""

import io
import re
import zipfile

import pytest
from django.core import mail
from playwright.sync_api import expect

from artio.models import User
from billing.models import Account, LedgerEntry, LedgerKind, StripeEvent, TopUp, TopUpStatus
from billing.selectors import ledger_audit
from generation.models import Export, Generation, Status
from tests.fixtures_browser import look
from tests.generation import conftest as generation
from tests.generation.conftest import answer_lost_callbacks, read
from tests.generation.test_library_browser import menu_action, tile

# The generation tests' fixtures: the seeded catalogue (fund), tasks run in-process, the KIE
# simulator, and a media folder of the test's own (autouse).
fund, kie, media, tasks = generation.fund, generation.kie, generation.media, generation.tasks

EMAIL = "walker@example.com"
PASSWORD = "a-long-unusual-passphrase"
FAST = "google/imagen4-fast"  # 4 credits an image
SECOND = "google/imagen4"
PROMPT = "a paper boat on a lake at dawn"
COMPARED = "a lighthouse on a cliff at dusk"


def balance(user):
    return read(lambda: Account.objects.get(user=user).balance)


def credits_in(text):
    return int(re.search(r"([\d,]+) credits", text).group(1).replace(",", ""))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["phone_page", "page"])
def test_a_new_user_walks_from_sign_up_to_export(
    request, viewport, fund, kie, tasks, live_server, settings, fresh_cache
):
    # fresh_cache: allauth sends one confirmation per address in 3 minutes, counted in the cache
    # table, which outlives the other viewport's run
    tab = request.getfixturevalue(viewport)
    # after `kie`, which points callbacks at a closed port: the sandbox's signed events and the
    # KIE simulator's callbacks must reach this live server
    settings.ARTIO_PUBLIC_URL = live_server.url
    site = live_server.url

    user = sign_up_and_confirm(tab, site)
    bonus = balance(user)
    top_up(tab, site, user, bonus)
    generate(tab, site, user, bonus + 500, kie)
    compare(tab, site, user, kie)
    library_favourite_delete_restore(tab, site, user)
    export(tab, site, user)

    assert read(ledger_audit) == []
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def sign_up_and_confirm(tab, site):
    tab.goto(f"{site}/accounts/signup/")
    expect(tab.get_by_role("heading", name="Create your account")).to_be_visible()
    tab.locator("input[name=email]").fill(EMAIL)
    tab.locator("input[name=password1]").fill(PASSWORD)
    tab.locator("input[name=password2]").fill(PASSWORD)
    look(tab, "journey-signup")
    tab.get_by_role("button", name="Sign up").click()
    expect(tab.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    look(tab, "journey-verification-sent")
    # an account but no bonus until the address is confirmed
    user = read(lambda: User.objects.get(email=EMAIL))
    assert balance(user) == 0
    assert read(LedgerEntry.objects.count) == 0

    # the e-mail's link (the live server runs in this process, so its outbox is ours)
    assert [m.to for m in mail.outbox] == [[EMAIL]]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    tab.goto(site + "/" + link.split("://", 1)[1].split("/", 1)[1])
    expect(tab.get_by_role("heading", name="Confirm your e-mail")).to_be_visible()
    expect(tab.get_by_text(EMAIL)).to_be_visible()
    look(tab, "journey-confirm-email")
    tab.get_by_role("button", name="Confirm").click()
    # confirmed in the same browser: signed in, with the welcome bonus in the ledger once
    expect(tab.locator("#nav-balance")).to_be_visible()
    bonus = read(lambda: LedgerEntry.objects.get(kind=LedgerKind.SIGNUP_BONUS))
    assert bonus.amount > 0 and balance(user) == bonus.amount
    expect(tab.locator("#nav-balance")).to_have_text(f"{bonus.amount:,}")
    look(tab, "journey-signed-in")
    return user


def top_up(tab, site, user, before):
    tab.goto(f"{site}/billing/")
    expect(tab.locator(".stat__value").first).to_contain_text(f"{before:,}")
    look(tab, "journey-billing")
    tab.get_by_role("button", name="Buy 500 credits").click()
    tab.wait_for_url("**/billing/sandbox/checkout/*/")
    expect(tab.get_by_text("SANDBOX — no real money moves")).to_be_visible()
    look(tab, "journey-sandbox-checkout")
    tab.get_by_role("button", name="Pay $5.00").click()
    expect(tab.get_by_role("heading", name="Thank you — 500 credits added")).to_be_visible()
    look(tab, "journey-paid")
    # the sandbox's signed event went through the real webhook, which credited once
    topup = read(TopUp.objects.get)
    assert (topup.status, topup.credits, topup.amount_cents) == (TopUpStatus.PAID, 500, 500)
    assert read(StripeEvent.objects.filter(type="checkout.session.completed").count) == 1
    assert read(LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count) == 1
    assert balance(user) == before + 500
    tab.get_by_role("link", name="Billing", exact=True).last.click()
    tab.wait_for_url("**/billing/")
    expect(tab.locator(".stat__value").first).to_contain_text(f"{before + 500:,}")
    expect(tab.get_by_text("Top-up of $5.00")).to_be_visible()
    expect(tab.locator("#nav-balance")).to_have_text(f"{before + 500:,}")
    look(tab, "journey-billing-topped-up")


def generate(tab, site, user, before, kie):
    tab.goto(f"{site}/generate/?model={FAST}")
    button = tab.locator("#generate-button button[type=submit]")
    expect(button.locator(".gen-submit__label")).to_have_text("Generate 1 image · 4 credits")
    expect(button).to_contain_text(f"Balance after: {before - 4:,}")
    tab.locator("#id_prompt").fill(PROMPT)
    look(tab, "journey-generate")
    button.click()
    answer_lost_callbacks(kie, 1)
    card = tab.locator(".result").first
    expect(card).to_contain_text("Done", timeout=20_000)
    assert tab.url.endswith(f"/generate/?model={FAST}")  # in place, no page load
    image = card.locator(".result__link img")
    expect(image).to_have_count(1)
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0
    made = read(Generation.objects.select_related("model").get)
    assert (made.model.slug, made.status, made.credits_charged) == (FAST, Status.SUCCEEDED, 4)
    assert balance(user) == before - 4
    expect(tab.locator("#nav-balance")).to_have_text(f"{before - 4:,}")
    look(tab, "journey-generated")
    # the full-size viewer opens on the image and Esc closes it
    card.locator(".result__link").first.click()
    viewer = tab.locator("dialog.viewer")
    expect(viewer).to_be_visible()
    big = viewer.locator(".viewer__image")
    expect(big).to_have_attribute("alt", PROMPT)
    expect(big).to_have_js_property("complete", True)
    assert big.evaluate("img => img.naturalWidth") > 0
    look(tab, "journey-viewer")
    tab.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def compare(tab, site, user, kie):
    before = balance(user)
    tab.goto(f"{site}/compare/")
    tab.locator("#id_prompt").fill(COMPARED)
    for slug in (FAST, SECOND):
        tab.locator(f'input[name=models][value="{slug}"]').check()
    button = tab.locator("#compare-button button")
    expect(button).to_contain_text("Compare 2 models · ")
    price = credits_in(button.inner_text())
    look(tab, "journey-compare")
    button.click()
    cards = tab.locator("#results-list .result")
    expect(cards).to_have_count(2)
    answer_lost_callbacks(kie, 1 + 2)
    for i in range(2):
        expect(cards.nth(i)).to_contain_text("Done", timeout=20_000)
        expect(cards.nth(i).locator(".result__link img")).to_have_count(1)
    look(tab, "journey-compared")
    # one charge per model, adding up to the price on the button
    compared = read(lambda: list(Generation.objects.select_related("model").filter(input__prompt=COMPARED)))
    assert sorted(g.model.slug for g in compared) == sorted([FAST, SECOND])
    assert {g.status for g in compared} == {Status.SUCCEEDED}
    assert sum(g.credits_charged for g in compared) == price
    assert balance(user) == before - price
    # the studio's one charge, then one per compared model, and no refund
    charges = read(lambda: list(LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE)))
    assert sorted(-entry.amount for entry in charges) == sorted([4, *(g.credits_charged for g in compared)])
    assert not read(LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_REFUND).exists)


def library_favourite_delete_restore(tab, site, user):
    tab.goto(f"{site}/generations/")
    tiles = tab.locator(".lib-tile")
    expect(tiles).to_have_count(3)
    first = tab.locator(".lib-tile img").first
    expect(first).to_have_js_property("complete", True)
    assert first.evaluate("img => img.naturalWidth") > 0
    look(tab, "journey-library")

    # favourite the studio's image with the heart, then see it alone under ♥ Favourites
    tile(tab, PROMPT).hover()
    tile(tab, PROMPT).get_by_role("button", name=f"Favourite “{PROMPT}”").click()
    expect(tile(tab, PROMPT).locator(".lib-heart__button")).to_have_attribute("aria-pressed", "true")
    assert read(lambda: Generation.objects.get(input__prompt=PROMPT).is_favourite)
    tab.get_by_role("link", name="♥ Favourites").click()
    expect(tiles).to_have_count(1)
    expect(tile(tab, PROMPT)).to_have_count(1)
    look(tab, "journey-favourites")

    # delete it: the tile goes and a toast offers Undo
    tab.get_by_role("link", name="All", exact=True).click()
    expect(tiles).to_have_count(3)
    menu_action(tab, PROMPT, "Delete")
    toast = tab.locator(".lib-toast")
    expect(toast).to_contain_text("Moved to Trash")
    expect(toast.get_by_role("button", name="Undo")).to_be_visible()
    expect(tiles).to_have_count(2)
    assert read(lambda: Generation.objects.get(input__prompt=PROMPT).deleted_at) is not None
    look(tab, "journey-deleted")

    # and restore it from the trash
    tab.get_by_role("link", name="Trash").click()
    tab.wait_for_url("**/generations/trash/")
    expect(tab.locator(".gen-card")).to_have_count(1)
    look(tab, "journey-trash")
    tab.get_by_role("button", name="Restore").click()
    expect(tab.get_by_text("Restored to My images.")).to_be_visible()
    assert read(lambda: Generation.objects.get(input__prompt=PROMPT).deleted_at) is None
    tab.goto(f"{site}/generations/")
    expect(tiles).to_have_count(3)
    expect(tile(tab, PROMPT)).to_have_count(1)
    look(tab, "journey-restored")


def export(tab, site, user):
    mail.outbox.clear()
    tab.get_by_role("button", name="Export all my images").click()
    expect(tab.get_by_role("link", name="download the zip")).to_be_visible()
    look(tab, "journey-export")
    made = read(lambda: Export.objects.get(owner=user))
    assert made.images == 3
    # the e-mail links to the zip; the link downloads it for its owner, signed in as this browser
    (message,) = mail.outbox
    assert message.to == [EMAIL] and message.subject == "Your Artio images are ready to download"
    link = re.search(r"https?://\S+/generations/export/\S+/", message.body).group(0)
    assert link.startswith(site)
    download = tab.request.get(link)
    assert download.status == 200
    with zipfile.ZipFile(io.BytesIO(download.body())) as archive:
        names = archive.namelist()
    assert "images.csv" in names and sum(name.endswith(".png") for name in names) == 3
