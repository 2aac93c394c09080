"""The Generate flow in headless Chromium: live price, Ctrl+Enter, live status until the images show."""

from datetime import timedelta

import pytest
from django.utils import timezone

from generation import services
from generation.models import Generation, Status
from tests.fixtures_browser import look

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
    # a locator wait: wait_for_function evals its string in the page, which the CSP refuses
    button.filter(has_text="12 credits").wait_for()
    tab.locator("#id_prompt").fill("a paper boat on a lake")
    assert "22 / 5000 characters" in tab.locator("[data-count-for=id_prompt]").inner_text()
    look(tab, "generate")
    # Ctrl+Enter submits from the prompt
    tab.locator("#id_prompt").press("Control+Enter")
    tab.wait_for_url("**/generations/gen_*/")
    generation = read(Generation.objects.get)
    assert generation.credits_charged == 12
    # the status region polls until the images are there, and announces it
    tab.wait_for_selector("text=3 images ready", timeout=20_000)
    assert tab.locator(".gen-images img").count() == 3
    assert tab.locator("[role=status][aria-live=polite]").count() >= 1
    look(tab, "detail")
    assert read(lambda: Generation.objects.get(pk=generation.pk).status) == Status.SUCCEEDED
    print(tmp_path)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_stuck_generation_on_a_phone_shows_its_shape_and_cancels_for_a_refund(
    request, client, alice, fund, tasks, live_server, tmp_path
):
    tab = request.getfixturevalue("phone_page")
    fund(alice, 50)
    tasks.run = False
    data = {"prompt": "a wide harbour", "num_images": 2, "aspect_ratio": "16:9"}
    generation = services.generation_create(user=alice, model_slug=FAST, data=data)
    then = timezone.now() - timedelta(minutes=5)
    Generation.objects.filter(pk=generation.pk).update(
        created_at=then, submitted_at=then, status=Status.RUNNING, kie_task_id="stuck"
    )
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}{generation.get_absolute_url()}")
    box = tab.locator(".gen-placeholder").first.bounding_box()
    assert abs(box["width"] / box["height"] - 16 / 9) < 0.05
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.screenshot(path=str(tmp_path / "stuck-phone.png"), full_page=True)
    tab.get_by_role("button", name="Cancel and refund 8 credits").click()
    tab.wait_for_selector("text=8 credits are back in your balance")
    assert read(lambda: Generation.objects.get(pk=generation.pk).refunded_credits) == 8
    tab.screenshot(path=str(tmp_path / "cancelled-phone.png"), full_page=True)
    tab.goto(f"{live_server.url}/generations/")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.screenshot(path=str(tmp_path / "gallery-phone.png"), full_page=True)
    print(tmp_path)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_generate_form_on_a_phone_starts_from_the_last_settings(
    request, client, alice, fund, tasks, live_server, tmp_path
):
    tab = request.getfixturevalue("phone_page")
    fund(alice, 50)
    tasks.run = False
    services.generation_create(
        user=alice, model_slug=FAST, data={"prompt": "first", "num_images": 3, "aspect_ratio": "9:16"}
    )
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}/generate/?model={FAST}")
    assert tab.get_by_label("9:16", exact=True).is_checked()
    assert tab.get_by_label("3", exact=True).is_checked()
    assert tab.locator("#id_prompt").input_value() == ""
    button = tab.locator("#generate-button button[type=submit]")
    assert button.inner_text().strip() == "Generate 3 images · 12 credits"
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.screenshot(path=str(tmp_path / "generate-remembered-phone.png"), full_page=True)
    tab.get_by_role("link", name="Start from the defaults").click()
    tab.wait_for_url("**defaults=1")
    assert button.inner_text().strip() == "Generate 1 image · 4 credits"
    print(tmp_path)
