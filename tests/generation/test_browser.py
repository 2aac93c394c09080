"""The Generate flow in headless Chromium: live price, Ctrl+Enter, live status until the images show."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generation import services
from generation.models import Generation, Status
from tests.fixtures_browser import look, sign_in

from .conftest import answer_lost_callbacks, read
from .test_studio import finish_with_image
from .test_validation import EDIT, png_bytes

FAST = "google/imagen4-fast"


@pytest.fixture
def media_through_app(monkeypatch):
    """Send /media/ to the app's own image view, as in production, not to the live server's
    built-in media handler (which would serve any file, trashed or not, with no download name)."""
    from django.test.testcases import _MediaFilesHandler

    monkeypatch.setattr(_MediaFilesHandler, "_should_handle", lambda self, path: False)


# What a drag from the desktop and a paste from the clipboard deliver: a DataTransfer with a file.
# (Run through the DevTools protocol, which the page's CSP does not govern.)
FILE = (
    "(b64) => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'cat.png', {type: 'image/png'})"
)
DROP = f"""(zone, b64) => {{ const dt = new DataTransfer(); dt.items.add(({FILE})(b64));
  zone.dispatchEvent(new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}})); }}"""
PASTE = f"""(zone, b64) => {{ const dt = new DataTransfer(); dt.items.add(({FILE})(b64));
  zone.querySelector('input[type=file]').focus();
  zone.dispatchEvent(new ClipboardEvent('paste',
    {{clipboardData: dt, bubbles: true, cancelable: true}})); }}"""


# Touch events as a phone's finger sends them, across the viewer's stage by `dx` pixels.
SWIPE = """dx => {
  const stage = document.querySelector("dialog.viewer .viewer__stage");
  const box = stage.getBoundingClientRect();
  const y = box.top + box.height / 2, x = box.left + box.width / 2;
  const at = (clientX) => new Touch({identifier: 1, target: stage, clientX, clientY: y});
  const down = {touches: [at(x)], changedTouches: [at(x)], bubbles: true};
  stage.dispatchEvent(new TouchEvent("touchstart", down));
  stage.dispatchEvent(new TouchEvent("touchend", {touches: [], changedTouches: [at(x + dx)], bubbles: true}));
}"""


def no_overlap(a, b):
    """True when two bounding boxes do not overlap vertically."""
    return a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_generate_in_a_browser_from_price_to_images_in_place_viewer_and_download(
    request, viewport, client, alice, fund, kie, tasks, live_server, settings, media_through_app
):
    tab = request.getfixturevalue(viewport)
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 50)
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}/generate/?model={FAST}")
    label = tab.locator("#generate-button .gen-submit__label")
    assert label.inner_text().strip() == "Generate 1 image · 4 credits"
    assert "Balance after: 46" in tab.locator("#generate-button button").inner_text()
    look(tab, "studio-start")
    # The picker shows every model; typing filters it.
    tab.locator(".picker__summary").click()
    tab.locator("#picker-search").fill("flux")
    expect(tab.locator("[data-picker-count]")).to_have_text("4 models match")
    assert tab.locator("[data-picker-item]:visible").count() == 4
    look(tab, "studio-picker-search")
    tab.locator("#picker-search").press("Escape")
    # when: the user picks 3 images, the server quote updates the button
    tab.get_by_label("3", exact=True).check()
    label.filter(has_text="12 credits").wait_for()
    # A pasted prompt over the limit is not cut: it is counted, refused, and the button waits.
    prompt = tab.locator("#id_prompt")
    prompt.fill("a paper boat " * 400)
    over = tab.locator("[data-over-for=id_prompt]")
    expect(over).to_contain_text("Too long: 5,200 characters, the limit is 5,000. Remove 200")
    expect(tab.locator("#generate-button button")).to_be_disabled()
    assert len(prompt.input_value()) == 5200
    look(tab, "studio-prompt-over-limit")
    prompt.fill("a paper boat on a lake")
    expect(over).to_be_hidden()
    expect(tab.locator("#generate-button button")).to_be_enabled()
    assert "22 / 5,000 characters" in tab.locator("[data-count-for=id_prompt]").inner_text()
    # The docked Generate bar never covers the prompt (a phone above all): not at rest, not while
    # typing a long one.
    bar = tab.locator("#generate-button")
    assert no_overlap(prompt.bounding_box(), bar.bounding_box())
    prompt.fill("a paper boat on a lake, " * 60)
    prompt.focus()
    assert no_overlap(prompt.bounding_box(), bar.bounding_box())
    prompt.fill("a paper boat on a lake")
    # Ctrl+Enter submits from the prompt; the result appears in place, on this page.
    prompt.press("Control+Enter")
    card = tab.locator(".result").first
    expect(card).to_contain_text("Done", timeout=20_000)
    assert tab.url.endswith(f"/generate/?model={FAST}")
    generation = read(Generation.objects.get)
    assert generation.credits_charged == 12
    assert read(lambda: Generation.objects.get(pk=generation.pk).status) == Status.SUCCEEDED
    expect(tab.locator("#studio-live")).to_contain_text("3 images ready")
    images = card.locator(".result__link img")
    assert images.count() == 3
    assert images.first.bounding_box()["width"] >= (160 if viewport == "phone_page" else 250)
    expect(card.get_by_role("button", name="Re-run · 12 credits")).to_be_visible()
    look(tab, "studio-result")
    # The full-size viewer: arrows move, Esc closes and focus goes back.
    card.locator(".result__link").first.click()
    viewer = tab.locator("dialog.viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator(".viewer__counter")).to_have_text("Image 1 of 3")
    tab.keyboard.press("ArrowRight")
    expect(viewer.locator(".viewer__counter")).to_have_text("Image 2 of 3")
    if viewport == "phone_page":
        # A finger: a swipe to the left shows the next image, to the right the one before; a short
        # drag (a tap that moved) does nothing.
        for dx, counter in ((-120, "Image 3 of 3"), (30, "Image 3 of 3"), (120, "Image 2 of 3")):
            tab.evaluate(SWIPE, dx)
            expect(viewer.locator(".viewer__counter")).to_have_text(counter)
    look(tab, "viewer")
    with tab.expect_download() as download:
        viewer.locator(".viewer__download").click()
    assert download.value.suggested_filename == "artio-a-paper-boat-on-a-lake-imagen4-fast-2.png"
    tab.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert tab.evaluate("document.activeElement.matches('[data-viewer-item]')")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_use_as_input_keeps_the_image_through_a_form_error(
    request, viewport, client, alice, fund, kie, tasks, live_server, settings
):
    tab = request.getfixturevalue(viewport)
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 50, plan="standard")
    tasks.run = False
    source = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "a red kite"})
    finish_with_image(source)
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}/generate/")
    tab.locator(".result").first.get_by_role("link", name="Use as input").first.click()
    tab.wait_for_url("**/generate/?use=*")
    expect(tab.locator("input[name=model]")).to_have_value(EDIT)
    expect(tab.locator(".dropzone__preview img")).to_have_count(1)
    look(tab, "studio-use-as-input")
    # when: submitted without a prompt, the form comes back in place still holding the image
    tab.locator("#generate-button button").click()
    expect(tab.locator(".prompt .errorlist")).to_be_visible()
    expect(tab.locator(".dropzone__preview img")).to_have_count(1)
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    look(tab, "studio-form-error-keeps-image")
    # and an image dropped on the zone, then one pasted, show their previews too
    png = base64.b64encode(png_bytes()).decode()
    zone = tab.locator("[data-dropzone]")
    zone.evaluate(DROP, png)
    expect(tab.locator(".dropzone__preview img")).to_have_count(2)
    zone.evaluate(PASTE, png)
    expect(tab.locator(".dropzone__preview img")).to_have_count(3)
    look(tab, "studio-dropped-and-pasted")
    tab.locator("#id_prompt").fill("make it blue")
    tab.locator("#generate-button button").click()
    expect(tab.locator(".result").first).to_contain_text("Nano Banana")
    edit = read(lambda: Generation.objects.get(model__slug=EDIT))
    assert len(edit.input["image_urls"]) == 3


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_compare_three_models_side_by_side(
    request, viewport, client, alice, fund, kie, tasks, live_server, settings
):
    tab = request.getfixturevalue(viewport)
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 50, plan="standard")
    sign_in(tab, client, alice, live_server)
    tab.goto(f"{live_server.url}/generate/")
    tab.get_by_role("link", name="Compare models side by side").click()
    tab.wait_for_url("**/compare/")
    look(tab, "compare-start")
    tab.locator("#id_prompt").fill("a lighthouse at dusk")
    for slug in (FAST, "google/imagen4", "gpt-image/1.5-text-to-image"):
        tab.locator(f'input[name=models][value="{slug}"]').check()
    button = tab.locator("#compare-button button")
    expect(button).to_contain_text("Compare 3 models · 16 credits")
    expect(button).to_contain_text("About 60 s")
    look(tab, "compare-priced")
    button.click()
    cards = tab.locator("#results-list .result")
    expect(cards).to_have_count(3)
    answer_lost_callbacks(kie, 3)
    for i in range(3):
        expect(cards.nth(i)).to_contain_text("Done", timeout=20_000)
    assert "/compare/?ids=" in tab.url
    assert read(lambda: Generation.objects.count()) == 3
    look(tab, "compare-results")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


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
    button = tab.locator("#generate-button .gen-submit__label")
    assert button.inner_text().strip() == "Generate 3 images · 12 credits"
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.screenshot(path=str(tmp_path / "generate-remembered-phone.png"), full_page=True)
    tab.get_by_role("link", name="Start from the defaults").click()
    tab.wait_for_url("**defaults=1")
    assert button.inner_text().strip() == "Generate 1 image · 4 credits"
    print(tmp_path)
