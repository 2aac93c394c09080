"""Pages under the strict Content-Security-Policy in headless Chromium: nothing refused, all working."""

import pytest
from allauth.account.models import EmailAddress

from artio.models import ApiKey
from artio.services import api_key_create
from tests.fixtures_browser import sign_in

VIOLATION = "Content Security Policy"


def watch_console(tab):
    """Return the list of console messages the policy causes on `tab` (it fills as pages load)."""
    refused = []
    tab.on(
        "console",
        lambda message: VIOLATION in message.text and refused.append(f"{tab.url}: {message.text}"),
    )
    return refused


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_load_without_a_policy_violation(page, client, staff, live_server):
    refused = watch_console(page)

    page.goto(f"{live_server.url}/")
    page.wait_for_load_state("networkidle")
    sign_in(page, client, staff, live_server)
    pages = ["/generate/", "/account/api-keys/", "/admin/", "/admin/catalog/price/"]
    # change forms load the admin's own scripts (actions, prepopulated fields, date widgets)
    pages += ["/admin/catalog/aimodel/add/", "/admin/auth/group/add/", "/admin/django_q/schedule/add/"]
    for path in pages:
        assert page.goto(f"{live_server.url}{path}").ok, path
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".opblock").first.wait_for()

    assert refused == []
    assert page.locator(".opblock").count() >= 5  # Swagger UI ran: its init script is allowed


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_superuser_signs_in_to_the_admin_in_the_browser(page, staff, live_server):
    refused = watch_console(page)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/accounts/login/?next=*")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.locator("#site-name").count() == 1
    assert refused == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_revoking_a_key_asks_first_and_secrets_select_on_focus(page, client, alice, live_server):
    # given: the confirmation and the select-on-focus are wired from artio.js, not inline handlers
    refused = watch_console(page)
    api_key, _ = api_key_create(user=alice, name="server")
    sign_in(page, client, alice, live_server)
    page.goto(f"{live_server.url}/account/api-keys/")
    page.get_by_label("Name").fill("another")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-value")
    secret.focus()
    assert page.evaluate("window.getSelection().toString()") == secret.input_value()

    # when: the first Revoke is dismissed, the second accepted
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Revoke key artio_{api_key.prefix}").click()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke key artio_{api_key.prefix}").click()
    page.wait_for_selector("text=revoked")

    # then
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert refused == []
