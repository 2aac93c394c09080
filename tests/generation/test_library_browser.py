"""The library in headless Chromium at 390 and 1280 px: grid → favourite → filter → delete with undo →
restore from the trash → export. Every state through look() (screenshot and axe-core)."""

import pytest
from playwright.sync_api import expect

from generation.models import Export, Generation
from tests.fixtures_browser import sign_in

from .conftest import read
from .library_helpers import library_seed

PROMPTS = [
    "a lighthouse on a cliff at dusk",
    "a red fox asleep in deep snow",
    "a paper boat on a still lake, watercolour",
    "a bowl of lemons on a blue table",
    "a red fox running through tall grass",
    "city lights seen from a night train",
    "a hot air balloon over fields",
]


def tile(tab, prompt):
    return tab.locator(".lib-tile", has=tab.locator(f'img[alt="{prompt}"]'))


def menu_action(tab, prompt, name):
    """Open the ⋯ menu of the tile showing `prompt` and press `name`."""
    card = tile(tab, prompt)
    card.hover()
    card.locator("summary").click()
    card.get_by_role("button", name=name).click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_library_from_grid_to_export(request, viewport, client, alice, fund, tasks, live_server, settings):
    tab = request.getfixturevalue(viewport)
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 10)
    for prompt in PROMPTS:
        library_seed(alice, 1, prompt=prompt, files=True)
    library_seed(alice, 1, prompt="a castle made of sand", status="failed")
    sign_in(tab, client, alice, live_server)
    name = "library" if viewport == "page" else "library-phone"

    # the grid: every image, newest first, edge to edge
    tab.goto(f"{live_server.url}/generations/")
    expect(tab.locator(".lib-tile")).to_have_count(len(PROMPTS) + 1)
    first = tab.locator(".lib-tile img").first
    expect(first).to_have_js_property("complete", True)
    assert first.evaluate("img => img.naturalWidth") > 0
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    look_at(tab, f"{name}-grid")

    # favourite: the heart on the tile, without a page load
    fox = "a red fox asleep in deep snow"
    tile(tab, fox).hover()
    heart = tile(tab, fox).get_by_role("button", name=f"Favourite “{fox}”")
    heart.click()
    expect(tile(tab, fox).locator(".lib-heart__button")).to_have_attribute("aria-pressed", "true")
    assert read(lambda: Generation.objects.get(input__prompt=fox).is_favourite)
    tile(tab, fox).hover()
    look_at(tab, f"{name}-hover")

    # filter: favourites, then a search with a status filter (kept in the URL)
    tab.get_by_role("link", name="♥ Favourites").click()
    expect(tab.locator(".lib-tile")).to_have_count(1)
    tab.get_by_role("link", name="All", exact=True).click()
    tab.get_by_label("Search your prompts").fill("red fox")
    tab.get_by_text("Filters", exact=True).click()
    tab.get_by_label("Status").select_option("succeeded")
    tab.get_by_role("button", name="Apply").click()
    tab.wait_for_url("**/generations/?q=red+fox&status=succeeded")
    expect(tab.locator(".lib-tile")).to_have_count(2)
    look_at(tab, f"{name}-filtered")

    # delete from the grid: the tile goes, a toast offers Undo, and Undo brings it back
    tab.get_by_role("link", name="All", exact=True).click()
    boat = "a paper boat on a still lake, watercolour"
    tile(tab, boat).hover()
    tile(tab, boat).locator("summary").click()
    look_at(tab, f"{name}-menu")
    tile(tab, boat).get_by_role("button", name="Delete").click()
    expect(tab.locator(".lib-toast")).to_contain_text("Moved to Trash")
    expect(tab.locator(".lib-tile")).to_have_count(len(PROMPTS))
    look_at(tab, f"{name}-undo")
    tab.locator(".lib-toast").get_by_role("button", name="Undo").click()
    expect(tab.get_by_text("Restored to My images.")).to_be_visible()
    expect(tab.locator(".lib-tile")).to_have_count(len(PROMPTS) + 1)

    # delete again, then restore it from the trash
    menu_action(tab, boat, "Delete")
    expect(tab.locator(".lib-tile")).to_have_count(len(PROMPTS))
    tab.get_by_role("link", name="Trash").click()
    tab.wait_for_url("**/generations/trash/")
    expect(tab.locator(".gen-card")).to_have_count(1)
    look_at(tab, f"{name}-trash")
    tab.get_by_role("button", name="Restore").click()
    expect(tab.get_by_text("Restored to My images.")).to_be_visible()
    tab.goto(f"{live_server.url}/generations/")
    expect(tile(tab, boat)).to_have_count(1)

    # export: asked for, built in the background (the stand-in runs it at once), linked on the page
    tab.get_by_role("button", name="Export all my images").click()
    expect(tab.get_by_role("link", name="download the zip")).to_be_visible()
    assert read(lambda: Export.objects.get(owner=alice).images) == len(PROMPTS)
    look_at(tab, f"{name}-export")


def look_at(tab, name):
    from tests.fixtures_browser import look

    look(tab, name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_scroll_loads_the_next_page_and_collections_work(request, viewport, client, alice, fund, live_server):
    tab = request.getfixturevalue(viewport)
    fund(alice, 10)
    library_seed(alice, 30, prompt="a small study number {i}", files=True)
    sign_in(tab, client, alice, live_server)
    name = "library" if viewport == "page" else "library-phone"
    tab.goto(f"{live_server.url}/generations/")
    expect(tab.locator(".lib-tile")).to_have_count(24)
    # scrolling to the end reveals "Load more", which htmx follows by itself
    tab.locator(".lib-more").scroll_into_view_if_needed()
    expect(tab.locator(".lib-tile")).to_have_count(30)
    expect(tab.locator(".lib-more")).to_have_count(0)
    # a collection made from an image's menu, then shown as a filtered library
    study = "a small study number 29"
    card = tile(tab, study)
    card.locator("summary").click()
    card.get_by_label("New collection").fill("Studies")
    card.get_by_role("button", name="Add").click()
    expect(tab.get_by_text("Added to “Studies”.")).to_be_visible()
    tab.get_by_role("link", name="Studies").click()
    expect(tab.locator(".lib-tile")).to_have_count(1)
    tab.get_by_text("Rename or delete this collection").click()
    look_at(tab, f"{name}-collection")
    tab.get_by_role("link", name="Manage collections").click()
    expect(tab.get_by_text("1 image")).to_be_visible()
    look_at(tab, f"{name}-collections")
