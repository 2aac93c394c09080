"""Headless Chromium (Debian's package) driven by Playwright against pytest-django's live_server."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-background-networking",  # the machine has no internet; don't let Chromium try
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]


# One browser for the session: a second live sync_playwright() in one process fails ("Sync API
# inside the asyncio loop"), so the fixtures are registered once, as a plugin (tests/conftest.py).
@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls our tests make
    # between page actions are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# Every page state a browser test shows is kept as a CI artefact (var/screenshots/, or
# ARTIO_SCREENSHOTS) and checked by axe-core: people judge the pages from these files.
SCREENSHOTS = Path(
    os.environ.get("ARTIO_SCREENSHOTS") or Path(__file__).resolve().parent.parent / "var/screenshots"
)
SERIOUS = {"serious", "critical"}


# Lazy images load once they near the viewport, so a screenshot taken at once showed blank tiles that
# a user, a moment later, would see drawn: load them all first (at most 5 s), as the user would see.
IMAGES_LOADED = """async () => {
  const images = [...document.images];
  images.forEach((image) => { image.loading = "eager"; });
  const loaded = images.map((image) => image.complete ? null : new Promise((done) => {
    image.addEventListener("load", done, {once: true});
    image.addEventListener("error", done, {once: true});
  }));
  await Promise.race([Promise.all(loaded), new Promise((done) => setTimeout(done, 5000))]);
}"""


def look(page, name, *, axe=True):
    """Save a full-page screenshot named after the viewport, and fail on a serious axe violation."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(IMAGES_LOADED)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    if axe:
        problems = axe_violations(page)
        assert not problems, f"axe-core on {name} at {width}px:\n" + "\n".join(problems)


def axe_violations(page):
    # Evaluated through the DevTools protocol, which the page's strict CSP does not govern.
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"- {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


def sign_in(tab, client, user, live_server):
    """Sign the tab in as `user` with the session of Django's test client (no login form to walk)."""
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    tab.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])


def themed_tab(browser, *, width, height, scheme):
    """Return a new tab at `width` px (a touch phone below 768) in the light or dark colour scheme."""
    phone = width < 768
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme, is_mobile=phone, has_touch=phone
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.scheme = scheme
    return page


def failed_delivery(account, *, attempt):
    """Record a failed partner-webhook delivery whose URL is long: its page must wrap it, not overflow."""
    from generation.models import WebhookDelivery

    return WebhookDelivery.objects.create(
        account=account,
        generation_public_id="gen_01JC9S4X4Q7K0Z3M2P8V6T5R1A",
        event_type="generation.succeeded",
        url="https://partner.example/hooks/artio/a-rather-long-path/that-goes-on?and=on&and=on",
        attempt=attempt,
        status_code=500,
        error="HTTP 500",
        duration_ms=42,
    )
