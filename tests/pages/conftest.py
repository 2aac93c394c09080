"""Fixtures of the page tour: the polish tests' ledger history and the ops tests' bulk generations."""

import pytest

from billing.models import SubscriptionPlan
from catalog.models import Plan
from tests.fixtures_browser import themed_tab
from tests.ops.conftest import make_generations  # noqa: F401 (a fixture, used by name)
from tests.polish.conftest import history  # noqa: F401 (a fixture, used by name)

WIDTHS = {390: 844, 1280: 900}


@pytest.fixture(params=[(w, s) for s in ("light", "dark") for w in WIDTHS], ids=lambda p: f"{p[0]}-{p[1]}")
def tab(request, browser):
    """A tab at 390 (a phone, touch) or 1280 px, in the light or the dark colour scheme."""
    width, scheme = request.param
    page = themed_tab(browser, width=width, height=WIDTHS[width], scheme=scheme)
    yield page
    page.context.close()


@pytest.fixture
def premium():
    # Transactional tests flush the plan the migration seeded.
    plan, _ = SubscriptionPlan.objects.get_or_create(
        slug="premium",
        defaults={"name": "Premium", "tier": Plan.PREMIUM, "price_cents": 2000, "monthly_credits": 2000},
    )
    return plan
