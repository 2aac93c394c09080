"""The API keys page in headless Chromium at phone width: usable without sideways scrolling."""

import pytest
from django.utils import timezone

from artio.services import api_key_create
from billing.services import account_for_user
from tests.fixtures_browser import failed_delivery, look


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_keys_page_fits_a_phone_and_shows_a_new_key_once(phone_page, client, alice, live_server):
    # given: a partner with a revoked key and a failed webhook delivery with a long URL
    revoked, _ = api_key_create(user=alice, name="old server")
    revoked.revoked_at = timezone.now()
    revoked.save(update_fields=["revoked_at"])
    failed_delivery(account_for_user(user=alice), attempt=1)
    client.force_login(alice)
    phone_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )

    # when: they create a key on their phone
    phone_page.goto(f"{live_server.url}/account/api-keys/")
    phone_page.get_by_label("Name").fill("phone test")
    phone_page.get_by_role("button", name="Create key").click()
    phone_page.wait_for_selector("#new-key-value")
    look(phone_page, "api-keys-new-key")

    # then: the whole key is there to copy, and the Revoke button and the delivery's URL are on
    # screen without scrolling anything sideways (the page or a table)
    new_key = phone_page.locator("#new-key-value").input_value()
    assert new_key.startswith("artio_") and len(new_key) > 50
    width = phone_page.viewport_size["width"]
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= width
    revoke = phone_page.get_by_role("button", name="Revoke key")
    assert revoke.count() == 1
    box = revoke.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    url = phone_page.locator(".api-keys__url").bounding_box()
    assert url["x"] + url["width"] <= width and url["height"] < 150  # a few lines, not a letter a line
    phone_page.reload()
    assert phone_page.locator("#new-key-value").count() == 0
