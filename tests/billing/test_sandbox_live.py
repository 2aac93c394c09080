"""The sandbox checkout end to end: "Pay" posts a signed event over real HTTP to the real webhook."""

import pytest

from billing.models import Account, LedgerEntry, LedgerKind, StripeEvent, TopUp, TopUpStatus
from catalog.models import CreditPack


@pytest.fixture
def live_public_url(live_server, settings):
    settings.ARTIO_PUBLIC_URL = live_server.url
    return live_server.url


@pytest.mark.django_db(transaction=True)
def test_sandbox_pay_credits_through_the_real_webhook(alice, client, live_public_url):
    pack = CreditPack.objects.create(name="Live", price_cents=500, credits=500, sort_order=1)
    client.force_login(alice)

    # given a top-up started from the billing page, with a page to come back to
    start = client.post("/billing/topup/", {"pack": pack.pk, "next": "/generate/?model=m&prompt=cat"})
    topup = TopUp.objects.get()
    checkout = client.get(start["Location"])
    assert "SANDBOX" in checkout.content.decode()

    # when the user presses Pay on the sandbox page
    paid = client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")

    # then the webhook (reached over HTTP) stored the event and credited once, and the user goes back
    event = StripeEvent.objects.get()
    assert event.type == "checkout.session.completed"
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert Account.objects.get(user=alice).balance == 500
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1
    success = client.get(paid["Location"])
    assert success.status_code == 302
    assert success["Location"] == "/generate/?model=m&prompt=cat"
    page = client.get("/billing/").content.decode()
    assert "Top-up of $5.00" in page

    # and pressing Pay again changes nothing
    client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")
    assert Account.objects.get(user=alice).balance == 500


@pytest.mark.django_db(transaction=True)
def test_sandbox_cancel_expires_the_topup(alice, client, live_public_url):
    client.force_login(alice)
    client.post("/billing/topup/", {"amount": "5"})
    topup = TopUp.objects.get()

    response = client.post(f"/billing/sandbox/checkout/{topup.public_id}/cancel/")

    assert response.status_code == 302
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.EXPIRED
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sandbox_pay_still_credits_via_success_page_when_webhook_unreachable(alice, client, settings):
    settings.ARTIO_PUBLIC_URL = "http://127.0.0.1:9"  # nothing listens: delivery fails
    client.force_login(alice)
    client.post("/billing/topup/", {"amount": "5"})
    topup = TopUp.objects.get()

    paid = client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")
    success = client.get(paid["Location"])

    assert success.status_code == 200
    assert Account.objects.get(user=alice).balance == 500
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sandbox_subscription_subscribes_renews_fails_and_cancels_through_the_real_webhook(
    alice, client, live_public_url
):
    from billing.models import Subscription, SubscriptionPlan, SubscriptionStatus
    from billing.selectors import ledger_audit
    from catalog.models import Plan

    SubscriptionPlan.objects.get_or_create(
        slug="premium",
        defaults={"name": "Premium", "tier": Plan.PREMIUM, "price_cents": 2000, "monthly_credits": 2000},
    )
    client.force_login(alice)

    # subscribe: the form redirects to the sandbox checkout, whose button posts signed events
    start = client.post("/billing/subscribe/", {"plan": "premium"})
    assert start.status_code == 303
    assert "SANDBOX" in client.get(start["Location"]).content.decode()
    client.post("/billing/sandbox/subscribe/premium/pay/")
    account = Account.objects.get(user=alice)
    assert (account.plan, account.balance) == (Plan.PREMIUM, 2000)
    assert {"customer.subscription.created", "invoice.paid", "checkout.session.completed"} <= set(
        StripeEvent.objects.values_list("type", flat=True)
    )

    # the portal button opens the sandbox portal; a month passes and the card is charged
    assert client.post("/billing/portal/")["Location"] == "/billing/sandbox/portal/"
    assert "Renew now" in client.get("/billing/sandbox/portal/").content.decode()
    client.post("/billing/sandbox/portal/renew/")
    assert Account.objects.get(user=alice).balance == 4000

    # the next renewal fails: past due, Premium kept for the grace period
    client.post("/billing/sandbox/portal/fail/")
    assert Subscription.objects.get().status == SubscriptionStatus.PAST_DUE
    assert Account.objects.get(user=alice).plan == Plan.PREMIUM
    assert "renewal payment failed" in client.get("/billing/").content.decode()

    # Stripe's retry succeeds, then the user cancels at the period's end, and the period ends
    client.post("/billing/sandbox/portal/renew/")
    client.post("/billing/sandbox/portal/cancel/")
    assert Subscription.objects.get().cancel_at_period_end is True
    client.post("/billing/sandbox/portal/end/")

    account = Account.objects.get(user=alice)
    assert (account.plan, account.balance) == (Plan.STANDARD, 6000)
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED
    assert LedgerEntry.objects.filter(kind=LedgerKind.SUBSCRIPTION_GRANT).count() == 3
    assert ledger_audit() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("card", ["4242", "0341"])
def test_sandbox_auto_topup_end_to_end_through_the_real_webhook(
    alice, client, live_public_url, monkeypatch, card
):
    from django.core import mail

    from billing import autotopup, services, tasks

    queued = []
    monkeypatch.setattr(autotopup, "task_enqueue", lambda func, *args: queued.append(args))
    pack = CreditPack.objects.create(name="Live", price_cents=500, credits=500, sort_order=1)
    client.force_login(alice)

    # given a sandbox checkout with "save this card" ticked, paid with the chosen test card
    client.post("/billing/topup/", {"pack": pack.pk, "save_card": "1"})
    topup = TopUp.objects.get()
    assert "Save this card" in client.get(f"/billing/sandbox/checkout/{topup.public_id}/").content.decode()
    client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/", {"card": card})
    account = Account.objects.get(user=alice)
    assert account.stripe_payment_method_id.endswith(card)
    client.post(
        "/billing/auto-topup/", {"enabled": "1", "threshold": "200", "pack": pack.pk, "monthly_limit": "10"}
    )

    # when a charge crosses the threshold and the worker runs the task
    services.credits_charge(account_id=account.pk, amount=400, reference="gen_live")
    autotopup.balance_watch(account=Account.objects.get(pk=account.pk))
    tasks.auto_topup_run(*queued[0])

    # then the sandbox's signed payment_intent event reached the real webhook
    account.refresh_from_db()
    automatic = TopUp.objects.get(automatic=True)
    assert StripeEvent.objects.filter(type__startswith="payment_intent.").count() == 2
    if card == "4242":
        assert automatic.status == TopUpStatus.PAID and account.balance == 100 + 500
    else:
        assert automatic.status == TopUpStatus.FAILED and account.balance == 100
        assert not account.auto_topup_enabled and len(mail.outbox) == 1
