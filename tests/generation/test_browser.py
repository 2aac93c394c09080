"""The Generate flow in headless Chromium: live price, Ctrl+Enter, live status until the images show."""

import pytest

from generation.models import Generation, Status
from tests.browser.conftest import browser, page, phone_page  # noqa: F401 (fixtures)

from .conftest import read

FAST = "google/imagen4-fast"


def sign_in(tab, client, user, live_server):
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    tab.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_generate_in_a_browser_from_price_to_images(
    request, viewport, client, alice, fund, kie, tasks, live_server, settings, tmp_path
):
    tab = request.getfixturevalue(viewport)
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 50)
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}/generate/?model={FAST}")
    button = tab.locator("#generate-button button[type=submit]")
    assert button.inner_text().strip() == "Generate 1 image · 4 credits"
    # when: the user picks 3 images, the server quote updates the button
    tab.get_by_label("3", exact=True).check()
    tab.wait_for_function(
        "document.querySelector('#generate-button button').textContent.includes('12 credits')"
    )
    tab.locator("#id_prompt").fill("a paper boat on a lake")
    assert "22 / 5000 characters" in tab.locator("[data-count-for=id_prompt]").inner_text()
    tab.screenshot(path=str(tmp_path / f"generate-{viewport}.png"), full_page=True)
    # Ctrl+Enter submits from the prompt
    tab.locator("#id_prompt").press("Control+Enter")
    tab.wait_for_url("**/generations/gen_*/")
    generation = read(Generation.objects.get)
    assert generation.credits_charged == 12
    # the status region polls until the images are there, and announces it
    tab.wait_for_selector("text=3 images ready", timeout=20_000)
    assert tab.locator(".gen-images img").count() == 3
    assert tab.locator("[role=status][aria-live=polite]").count() >= 1
    tab.screenshot(path=str(tmp_path / f"detail-{viewport}.png"), full_page=True)
    assert read(lambda: Generation.objects.get(pk=generation.pk).status) == Status.SUCCEEDED
    print(tmp_path)
