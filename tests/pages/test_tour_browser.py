"""Every page outside the studio's own (generate, library), in headless Chromium at 390 and 1280 px,
light and dark: each through look(), a CI screenshot and an axe-core check.

The generate, detail, compare and library pages have their own browser tests; the landing page,
sign-up, log-in, billing and API keys pages are in tests/polish/test_look_browser.py.
"""

from decimal import Decimal

import pytest
from django.template.loader import get_template
from django.utils import timezone
from playwright.sync_api import expect

from artio.services import api_key_create
from billing import payments, services, subscriptions
from billing.models import TopUp
from catalog.services import catalog_seed
from generation.models import Generation
from ops.models import Mismatch, MismatchKind
from tests.fixtures_browser import failed_delivery, look, sign_in

# The elements that stick out past the viewport's right edge, to name them when a page scrolls sideways.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth || e.scrollWidth > e.clientWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def shot(tab, name):
    """look() under a name that says the scheme; then check nothing scrolls the page sideways."""
    look(tab, name if tab.scheme == "light" else f"{name}-dark")
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"{name} scrolls sideways ({width}px): {tab.evaluate(WIDEST)}"


def visit(tab, live_server, path, name, *, status=200):
    response = tab.goto(f"{live_server.url}{path}")
    assert response.status == status, (path, response.status)
    shot(tab, name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_signed_out_pages(tab, live_server):
    # The form states polish's tests do not show: sign-up and sign-in refused, with their errors.
    tab.goto(f"{live_server.url}/accounts/signup/")
    tab.get_by_label("Email").fill("not-an-address")
    tab.get_by_label("Password", exact=True).fill("short")
    tab.get_by_role("button", name="Sign up").click()
    expect(tab.locator(".errorlist").first).to_be_visible()
    shot(tab, "signup-errors")
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.get_by_label("Email").fill("nobody@example.com")
    tab.get_by_label("Password").fill("wrong-password")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.locator(".errorlist, [role=alert]").first).to_be_visible()
    shot(tab, "login-failed")

    visit(tab, live_server, "/accounts/password/reset/", "password-reset")
    tab.get_by_label("Email").fill("nobody@example.com")
    tab.get_by_role("button", name="Reset").click()
    tab.wait_for_url("**/accounts/password/reset/done/")
    shot(tab, "password-reset-done")
    visit(tab, live_server, "/accounts/confirm-email/", "verification-sent")
    visit(tab, live_server, "/accounts/password/reset/key/1-not-a-real-key/", "password-reset-bad-link")
    visit(tab, live_server, "/no-such-page/", "not-found", status=404)

    # A form posted without its CSRF cookie (a stale tab, cookies cleared) gets the 403 page.
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.context.clear_cookies()
    tab.get_by_label("Email").fill("alice@example.com")
    tab.get_by_label("Password").fill("wrong")
    with tab.expect_response(lambda r: r.request.method == "POST") as posted:
        tab.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 403
    tab.wait_for_load_state()
    shot(tab, "csrf-failure")

    # The 500 page as Django's handler renders it: no request, no context (served as is here, as
    # nothing in the app fails on purpose); its stylesheet comes from the live server.
    html = get_template("500.html").render()
    tab.route(f"{live_server.url}/broken/", lambda route: route.fulfill(body=html, content_type="text/html"))
    tab.goto(f"{live_server.url}/broken/")
    expect(tab.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    shot(tab, "server-error")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_signed_in_pages(tab, live_server, client, alice, history, premium, settings):
    settings.ARTIO_PUBLIC_URL = live_server.url  # the sandbox's signed events reach this server
    paid, abandoned = history(alice)
    open_ = payments.topup_create(user=alice, amount_cents=500)
    payments.topup_checkout_start(
        topup=open_, email=alice.email, success_url="http://t/s?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://t/c",
    )  # fmt: skip
    key, _ = api_key_create(user=alice, name="render server")
    account = services.account_for_user(user=alice)
    failed_delivery(account, attempt=2)
    sign_in(tab, client, alice, live_server)

    # A top-up below the minimum: the billing page again, with the error by the field.
    tab.goto(f"{live_server.url}/billing/")
    tab.get_by_label("Amount (USD)").fill("1")
    tab.get_by_role("button", name="Continue to payment").click()
    expect(tab.get_by_role("alert").filter(has_text="The minimum top-up")).to_be_visible()
    expect(tab.get_by_label("Amount (USD)")).to_be_focused()  # in view, not 2,000 px below the top
    shot(tab, "billing-topup-refused")
    visit(tab, live_server, f"/billing/success/?session_id={paid.stripe_session_id}", "topup-success")
    visit(tab, live_server, f"/billing/cancel/?topup={abandoned.public_id}", "topup-cancel")
    visit(tab, live_server, f"/billing/receipts/{paid.public_id}/", "receipt")
    open_ = TopUp.objects.get(pk=open_.pk)
    visit(tab, live_server, f"/billing/sandbox/checkout/{open_.public_id}/", "sandbox-checkout")
    visit(tab, live_server, "/billing/subscribe/?plan=premium", "subscribe")
    visit(tab, live_server, "/billing/sandbox/subscribe/premium/", "sandbox-subscribe")
    subscriptions.sandbox_subscribe_pay(user=alice, plan_slug="premium")
    visit(tab, live_server, "/billing/sandbox/portal/", "sandbox-portal")
    visit(tab, live_server, "/billing/key-spend/", "key-spend")
    expect(tab.get_by_text(key.name).first).to_be_visible()
    visit(tab, live_server, "/account/webhook-deliveries/", "webhook-deliveries")
    tab.goto(f"{live_server.url}/account/api-keys/")
    expect(tab.get_by_role("button", name=f"Revoke key artio_{key.prefix}")).to_be_visible()
    expect(tab.get_by_text("Credits spent through each key")).to_be_visible()  # loaded after the page
    shot(tab, "api-keys-with-a-key")
    visit(tab, live_server, "/pricing/", "pricing-signed-in")
    visit(tab, live_server, "/accounts/logout/", "logout-confirm")
    visit(
        tab,
        live_server,
        "/billing/receipts/top_0000000000000000000000000/",
        "not-found-signed-in",
        status=404,
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_pages(tab, live_server, client, staff, make_generations, kie_sandbox):
    catalog_seed()  # transactional tests flush what the seed migration filled
    made = make_generations(3)
    generation = Generation.objects.get(pk=made[0].pk)
    Mismatch.objects.create(
        day=timezone.now().date(),
        kind=MismatchKind.BILLED_OVER_PRICE,
        subject=generation.public_id,
        generation=generation,
        model=generation.model,
        kie_task_ids="task_a1\ntask_a2",
        billed_credits=Decimal("6"),
        expected_credits=Decimal("4"),
        amount_credits=Decimal("2"),
        amount_usd=Decimal("0.01"),
        detail="KIE billed 6 credits for a 4-credit price row.",
    )
    Mismatch.objects.create(
        day=timezone.now().date(),
        kind=MismatchKind.TASK_WITHOUT_GENERATION,
        subject="task_orphan_7",
        kie_task_ids="task_orphan_7",
        billed_credits=Decimal("4"),
        amount_credits=Decimal("4"),
        amount_usd=Decimal("0.02"),
        detail="A KIE task with no generation.",
        resolved_at=timezone.now(),
        resolved_by=staff,
        resolution_note="A retried upload at KIE; their support refunded it.",
    )
    sign_in(tab, client, staff, live_server)

    visit(tab, live_server, "/admin/", "admin-index")
    visit(tab, live_server, f"/admin/generation/generation/{generation.pk}/change/", "admin-generation")
    visit(tab, live_server, "/admin/catalog/price/", "admin-price-list")
    visit(tab, live_server, "/admin/ops/overview/", "admin-overview")
    visit(tab, live_server, "/admin/ops/mismatch/", "admin-mismatches")
    if tab.viewport_size["width"] >= 1280:
        # every column, the money at issue and who resolved it included, without scrolling the table
        table = tab.locator("#changelist .results").bounding_box()
        last = tab.locator("th.column-resolved").bounding_box()
        assert last["x"] + last["width"] <= table["x"] + table["width"], (last, table)
