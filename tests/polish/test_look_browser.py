"""The pages polish owns, in headless Chromium at 390, 768 and 1280 px, light and dark.

Every state goes through look(): a screenshot for people to judge and an axe-core check.
"""

import pytest
from playwright.sync_api import expect

from billing import services
from tests.fixtures_browser import look, sign_in, themed_tab

WIDTHS = {390: 844, 768: 1024, 1280: 900}


@pytest.fixture(params=[(w, s) for w in WIDTHS for s in ("light", "dark")], ids=lambda p: f"{p[0]}-{p[1]}")
def tab(request, browser):
    width, scheme = request.param
    page = themed_tab(browser, width=width, height=WIDTHS[width], scheme=scheme)
    yield page
    page.context.close()


def no_sideways_scroll(tab):
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= tab.viewport_size["width"], f"the page scrolls sideways ({width}px)"


def nav_links_on_one_row(tab):
    """The header's five page links share one row, all in view (on a phone "API" once wrapped to
    a line of its own)."""
    boxes = tab.eval_on_selector_all(".nav__links a", "els => els.map(e => e.getBoundingClientRect())")
    assert len(boxes) == 5 and len({round(box["top"]) for box in boxes}) == 1, boxes
    assert max(box["right"] for box in boxes) <= tab.viewport_size["width"], boxes


def open_swagger(tab, live_server):
    # Swagger UI's bundle is large and the CI machine is busy: give it time to draw.
    tab.goto(f"{live_server.url}/api/docs/", wait_until="domcontentloaded", timeout=60_000)
    tab.locator(".opblock").first.wait_for(timeout=60_000)


def swagger_shot(tab, name):
    """Swagger UI's own markup fails axe (nested controls, contrast) and is not ours: check our header."""
    from axe_playwright_python.sync_playwright import Axe

    look(tab, f"{name}-{tab.scheme}", axe=False)
    results = Axe().run(tab, context="header.site-header")
    serious = [v["id"] for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not serious, serious


def shot(tab, name):
    no_sideways_scroll(tab)
    look(tab, f"{name}-{tab.scheme}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_public_pages(tab, live_server, history):
    history  # noqa: B018 (puts the catalogue back after the transactional flush)
    tab.goto(f"{live_server.url}/")
    assert tab.get_by_role("link", name="Sign up free").first.is_visible()
    assert "an image" in tab.locator(".hero__price").inner_text()
    shot(tab, "landing")

    tab.goto(f"{live_server.url}/pricing/")
    shot(tab, "pricing")

    tab.goto(f"{live_server.url}/accounts/signup/")
    shot(tab, "signup")

    tab.goto(f"{live_server.url}/accounts/login/")
    shot(tab, "login")

    open_swagger(tab, live_server)
    swagger_shot(tab, "swagger")
    tab.get_by_role("link", name="← Back to Artio").click()
    tab.wait_for_url(f"{live_server.url}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_signed_in_pages(tab, live_server, client, alice, history):
    history(alice)
    sign_in(tab, client, alice, live_server)

    tab.goto(f"{live_server.url}/")
    assert tab.get_by_role("link", name="Open the studio").first.is_visible()
    nav_links_on_one_row(tab)
    shot(tab, "landing-signed-in")

    tab.goto(f"{live_server.url}/billing/")
    history_table = tab.locator("section", has=tab.locator("#history-heading"))
    assert "Credits added by Artio" in history_table.inner_text()
    assert "INTERNAL" not in tab.content()
    shot(tab, "billing")

    # A refund elsewhere (a failed generation): the header catches up on balance-changed, and when
    # the tab is shown again, without a reload.
    account = services.account_for_user(user=alice)
    balance = tab.locator("#nav-balance")
    expect(balance).to_have_text("1,060")
    services.credits_refund(account_id=account.pk, amount=7, reference="gen_late")
    tab.evaluate("document.body.dispatchEvent(new CustomEvent('balance-changed'))")
    expect(balance).to_have_text("1,067")
    services.credits_refund(account_id=account.pk, amount=3, reference="gen_later")
    tab.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(balance).to_have_text("1,070")

    tab.goto(f"{live_server.url}/account/api-keys/")
    tab.get_by_role("link", name="API reference").first.wait_for()
    shot(tab, "api-keys")

    open_swagger(tab, live_server)
    swagger_shot(tab, "swagger-signed-in")
    tab.get_by_role("link", name="Your API keys").click()
    tab.wait_for_url("**/account/api-keys/")
