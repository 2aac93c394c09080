"""The operator overview and the test-generation page in headless Chromium: screenshots and axe-core."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import AIModel
from catalog.services import catalog_seed
from generation.models import Status
from ops.models import Alert, AlertKind
from tests.fixtures_browser import look, sign_in


@pytest.fixture
def seeded(kie_sandbox):
    # Transactional tests flush the catalogue the seed migration made; put it back.
    catalog_seed()
    return kie_sandbox


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_overview_in_a_browser(request, viewport, client, staff, seeded, make_generations, live_server):
    tab = request.getfixturevalue(viewport)
    for days in range(7):
        make_generations(3 + days, age=timedelta(days=days, minutes=5), seconds=8 + days)
        make_generations(1, slug="google/imagen4", age=timedelta(days=days, minutes=9), kie=Decimal("9"))
    make_generations(2, status=Status.FAILED, refunded=True, kie=Decimal(0), usd=Decimal(0))
    Alert.objects.create(
        kind=AlertKind.MODEL_FAILING,
        subject="google/imagen4",
        message="Imagen 4 (google/imagen4): 6 of 10 jobs failed in the last hour.",
        last_seen_at=timezone.now(),
    )
    AIModel.objects.filter(slug="recraft/crisp-upscale").update(
        is_active=False, paused_reason="failing often at KIE at the moment"
    )
    sign_in(tab, client, staff, live_server)
    tab.goto(f"{live_server.url}/admin/")
    tab.get_by_role("link", name="Operator overview").click()
    expect(tab.get_by_role("heading", name="Models")).to_be_visible()
    expect(tab.locator("#ops-models tbody tr")).to_have_count(2)
    expect(tab.get_by_text("6 of 10 jobs failed")).to_be_visible()
    look(tab, "ops-overview")
    tab.get_by_label("Last 30 days").check()
    tab.get_by_role("button", name="Show").click()
    expect(tab.get_by_text("Last 30 days:")).to_be_visible()
    with tab.expect_download() as download:
        tab.get_by_role("link", name="CSV of this table").first.click()
    assert download.value.suggested_filename.startswith("artio-models-")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_test_generation_page_in_a_browser(page, client, staff, seeded, live_server):
    model = AIModel.objects.get(slug="google/nano-banana-edit")
    sign_in(page, client, staff, live_server)
    page.goto(f"{live_server.url}/admin/catalog/aimodel/{model.pk}/change/")
    page.get_by_role("link", name="Test generation").click()
    expect(page.get_by_label("Input (JSON; schema defaults are filled in)")).to_contain_text("prompt")
    look(page, "ops-test-generation")
    page.get_by_role("button", name="Run once and charge my account").click()
    expect(page.get_by_role("alert")).to_contain_text("credits")
    look(page, "ops-test-generation-refused")
