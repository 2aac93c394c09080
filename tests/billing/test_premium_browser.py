"""Premium in headless Chromium: locked model, sandbox subscription, a Premium image, cancel in the portal."""

import pytest
from playwright.sync_api import expect

from billing.models import Account, LedgerEntry, LedgerKind, Subscription, SubscriptionPlan
from billing.selectors import ledger_audit
from catalog.models import Plan
from generation.models import Generation, Status
from tests.fixtures_browser import look, sign_in
from tests.generation import conftest as generation
from tests.generation.conftest import read

# The generation tests' fixtures, here too: funded users, tasks run in-process, the KIE simulator,
# and a media folder of the test's own (autouse).
fund, kie, media, tasks = generation.fund, generation.kie, generation.media, generation.tasks

ULTRA = "google/imagen4-ultra"  # Imagen 4 Ultra: min_plan Premium, 12 credits an image


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_subscribe_through_the_sandbox_generate_with_premium_and_cancel_in_the_portal(
    page, client, alice, fund, kie, tasks, live_server, settings
):
    # after `kie`, which points callbacks at a closed port: the sandbox's signed events must
    # reach this live server's real webhook
    settings.ARTIO_PUBLIC_URL = live_server.url
    # transactional tests flush the plan the migration seeded
    SubscriptionPlan.objects.get_or_create(
        slug="premium",
        defaults={"name": "Premium", "tier": Plan.PREMIUM, "price_cents": 2000, "monthly_credits": 2000},
    )
    fund(alice, 50, plan=Plan.STANDARD)
    sign_in(page, client, alice, live_server)

    # 1. the Premium model is locked on Standard, and says where to subscribe
    page.goto(f"{live_server.url}/generate/?model={ULTRA}")
    note = page.locator("#compose [role=note]")
    expect(note).to_contain_text("Imagen 4 Ultra needs the Premium plan; you are on Standard.")
    look(page, "premium-locked")
    note.get_by_role("link", name="Subscribe to Premium").click()
    page.wait_for_url("**/billing/subscribe/?plan=premium")
    expect(page.get_by_role("heading", name="Subscribe to Premium")).to_be_visible()
    look(page, "premium-subscribe")

    # 2. POST /billing/subscribe/ → the sandbox checkout → pay → back on /billing/, on Premium
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/billing/sandbox/subscribe/premium/?session=*")
    expect(page.get_by_text("SANDBOX — no real money moves")).to_be_visible()
    look(page, "premium-sandbox-checkout")
    page.get_by_role("button", name="Subscribe for $20.00 a month").click()
    page.wait_for_url("**/billing/#subscription")
    subscription_section = page.locator("#subscription")
    expect(subscription_section).to_contain_text("Premium, $20.00 a month, 2,000 credits each paid month")
    expect(page.locator(".stat__value").nth(1)).to_have_text("Premium")
    expect(page.locator(".stat__value").first).to_contain_text("2,050")
    look(page, "premium-subscribed")
    # the sandbox's signed events went through the real webhook, which granted the plan once
    account = read(lambda: Account.objects.get(user=alice))
    assert (account.plan, account.balance) == (Plan.PREMIUM, 2050)
    assert read(LedgerEntry.objects.filter(kind=LedgerKind.SUBSCRIPTION_GRANT).count) == 1

    # 3. the Premium model now generates, and its image appears in place on the studio page
    page.goto(f"{live_server.url}/generate/?model={ULTRA}")
    expect(page.locator("#compose [role=note]")).to_have_count(0)
    button = page.locator("#generate-button button[type=submit]")
    expect(button.locator(".gen-submit__label")).to_have_text("Generate 1 image · 12 credits")
    page.locator("#id_prompt").fill("a lighthouse in a storm, fine detail")
    look(page, "premium-generate")
    button.click()
    card = page.locator(".result").first
    expect(card).to_contain_text("Done", timeout=20_000)
    expect(card.locator(".result__link img")).to_have_count(1)
    look(page, "premium-result")
    generation = read(Generation.objects.get)
    assert (generation.model.slug, generation.status, generation.credits_charged) == (
        ULTRA,
        Status.SUCCEEDED,
        12,
    )

    # 4. "Manage or cancel" opens the (sandbox) Customer Portal; cancel at the period's end
    page.goto(f"{live_server.url}/billing/")
    page.get_by_role("button", name="Manage or cancel").click()
    page.wait_for_url("**/billing/sandbox/portal/")
    look(page, "premium-portal")
    page.get_by_role("button", name="Cancel at the end of the period").click()
    expect(page.get_by_text("ends at the period's end")).to_be_visible()
    look(page, "premium-portal-canceled")
    page.get_by_role("link", name="← Return to Artio").click()
    page.wait_for_url("**/billing/#subscription")
    expect(subscription_section).to_contain_text("canceled: no more renewals; your credits stay")
    look(page, "premium-billing-canceled")
    subscription = read(Subscription.objects.get)
    assert subscription.cancel_at_period_end is True
    # Premium stays until the paid month ends
    assert read(lambda: Account.objects.get(user=alice).plan) == Plan.PREMIUM

    # 5. the money adds up
    assert read(ledger_audit) == []
