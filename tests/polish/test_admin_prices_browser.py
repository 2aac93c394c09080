"""The admin's price list at 1280 px: every column, the margin above all, on screen without scrolling."""

import pytest

from catalog.services import catalog_seed
from tests.fixtures_browser import look


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_price_list_fits_1280_with_the_margin_visible(scheme, browser, client, staff, live_server):
    catalog_seed()
    client.force_login(staff)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    tab = context.new_page()
    tab.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    tab.goto(f"{live_server.url}/admin/catalog/price/")

    # The table sits in a box that scrolls sideways when too wide: the margin column must end inside it.
    table = tab.locator("#changelist .results").bounding_box()
    margin = tab.locator("th.column-margin").bounding_box()
    assert margin["x"] + margin["width"] <= table["x"] + table["width"], (margin, table)
    assert tab.evaluate("document.querySelector('#changelist .results').scrollWidth") <= table["width"] + 1
    assert tab.evaluate("document.documentElement.scrollWidth") <= 1280
    look(tab, f"admin-prices-{scheme}", axe=False)  # Django's own admin markup is not ours to fix
    context.close()
