"""/api/docs/ in headless Chromium: each endpoint shows its curl and Python `requests` examples.

Also proves Swagger UI is served from our static files (drf-spectacular-sidecar): loaded from a
CDN, as drf-spectacular does by default, the page is blank without internet and this test fails.
"""

import pytest

from tests.fixtures_browser import look

OPERATIONS = {
    "Price a generation": "curl -X POST",
    "Start a generation": "curl -X POST",
    "Your generations": "curl -H",
    "One generation": "curl -H",
    "Your credit balance": "curl -H",
    "Your ledger": "curl -H",
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_api_docs_show_a_curl_and_a_python_example_per_endpoint(page, live_server):
    page.goto(f"{live_server.url}/api/docs/")

    for summary, curl in OPERATIONS.items():
        operation = page.locator(".opblock", has_text=summary)
        operation.locator(".opblock-summary").first.click()
        description = operation.locator(".opblock-description-wrapper").first
        description.wait_for()

        assert description.locator("code", has_text=curl).count() >= 1, summary
        assert description.locator("code", has_text="import").count() >= 1, summary
        assert description.locator("code", has_text="requests.").count() >= 1, summary
    # Swagger UI's own markup (nested controls, its contrast) fails axe and is not ours to fix;
    # tests/polish/test_look_browser.py checks our header on this page.
    look(page, "api-docs-examples", axe=False)
