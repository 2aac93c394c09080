"""Premium by subscription: signed events through the real webhook, Stripe's API faked over HTTP.

Every event comes twice and in every order; the checks are the ones that matter for money: credits
once per paid invoice, plan and status right at the end, the ledger audit clean.
"""

import datetime
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from artio.services import api_key_create
from billing import subscriptions
from billing.models import (
    Account,
    InvoiceStatus,
    LedgerEntry,
    LedgerKind,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
    SubscriptionStatus,
)
from billing.selectors import ledger_audit
from billing.services import account_for_user
from catalog.models import Plan

from .conftest import make_event, sign

pytestmark = pytest.mark.django_db

PRICE = "price_premium_test"
MONTH = 30 * 24 * 3600
NOW = int(time.time())
P1 = (NOW, NOW + MONTH)  # the first month
P2 = (NOW + MONTH, NOW + 2 * MONTH)  # the first renewal's month


@pytest.fixture
def premium(settings):
    settings.STRIPE_PREMIUM_PRICE = PRICE
    # Seeded by migration 0005; a transactional test's flush removes it, so make it again then.
    plan, _ = SubscriptionPlan.objects.get_or_create(
        slug="premium",
        defaults={"name": "Premium", "tier": Plan.PREMIUM, "price_cents": 2000, "monthly_credits": 2000},
    )
    return plan


@pytest.fixture
def account(alice, premium):
    account = account_for_user(user=alice)
    Account.objects.filter(pk=account.pk).update(stripe_customer_id="cus_alice")
    account.refresh_from_db()
    return account


def sub_obj(account, *, status="active", period=P1, cancel=False, price=PRICE, sub_id="sub_1"):
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": account.stripe_customer_id,
        "status": status,
        "cancel_at_period_end": cancel,
        "metadata": {"account_id": str(account.pk), "plan": "premium"},
        "items": {
            "data": [
                {"price": {"id": price}, "current_period_start": period[0], "current_period_end": period[1]}
            ]
        },
    }


def invoice_obj(account, invoice_id, *, period=P1, status="paid", reason="subscription_create", amount=2000):
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": account.stripe_customer_id,
        "status": status,
        "billing_reason": reason,
        "amount_paid": amount if status == "paid" else 0,
        "amount_due": amount,
        "currency": "usd",
        "hosted_invoice_url": f"https://invoice.example.test/{invoice_id}",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_1", "metadata": {"account_id": str(account.pk)}},
        },
        "lines": {
            "data": [
                {
                    "period": {"start": period[0], "end": period[1]},
                    "pricing": {"price_details": {"price": PRICE}},
                }
            ]
        },
        "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": f"pi_{invoice_id}"}}]},
    }


def session_obj(account):
    return {
        "id": "cs_sub_1",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": account.stripe_customer_id,
        "subscription": "sub_1",
        "invoice": "in_1",
        "metadata": {"account_id": str(account.pk), "plan": "premium"},
    }


def event(type_, obj, created=NOW, evt_id=None):
    evt = make_event(type_, obj, evt_id=evt_id)
    evt["created"] = created
    return evt


def deliver_twice(post_event, events):
    """Deliver each event, then all of them again (Stripe's duplicates); every answer must be 200."""
    for evt in [*events, *events]:
        assert post_event(evt).status_code == 200


def _account(account):
    return Account.objects.get(pk=account.pk)


def _grants(account):
    return list(
        LedgerEntry.objects.filter(account=account, kind=LedgerKind.SUBSCRIPTION_GRANT)
        .order_by("id")
        .values_list("reference", "amount")
    )


def _subscribe(post_event, account):
    deliver_twice(
        post_event,
        [
            event("customer.subscription.created", sub_obj(account)),
            event("invoice.paid", invoice_obj(account, "in_1")),
            event("checkout.session.completed", session_obj(account)),
        ],
    )


# --- Subscribing ----------------------------------------------------------------------------------


def test_seeded_premium_plan_takes_its_price_from_the_setting(premium):
    assert (premium.price_cents, premium.monthly_credits, premium.tier) == (2000, 2000, Plan.PREMIUM)
    assert premium.price_id == PRICE


def test_subscribe_creates_one_customer_and_opens_a_subscription_checkout(
    alice, client, premium, fake_stripe
):
    client.force_login(alice)

    first = client.post("/billing/subscribe/", {"plan": "premium"})
    second = client.post("/billing/subscribe/", {"plan": "premium"})  # the first checkout was abandoned

    assert first.status_code == second.status_code == 303
    assert first["Location"].startswith("https://checkout.example.test/")
    customers = [c for c in fake_stripe.calls if c[1] == "/v1/customers"]
    assert len(customers) == 1
    account = Account.objects.get(user=alice)
    assert account.stripe_customer_id.startswith("cus_test_")
    session = next(iter(fake_stripe.sessions.values()))
    assert (session["mode"], session["customer"], session["price"]) == (
        "subscription",
        account.stripe_customer_id,
        PRICE,
    )
    assert session["metadata"] == {"account_id": str(account.pk), "plan": "premium"}


def test_subscribe_is_post_only_to_change_anything_and_get_confirms(alice, client, premium, fake_stripe):
    client.force_login(alice)

    page = client.get("/billing/subscribe/?plan=premium")

    assert page.status_code == 200
    assert 'action="/billing/subscribe/"' in page.content.decode()
    assert fake_stripe.calls == []


def test_subscribe_refuses_a_plan_not_on_sale_and_a_second_subscription(
    client, account, alice, post_event, fake_stripe
):
    client.force_login(alice)
    assert client.post("/billing/subscribe/", {"plan": "gold"}).status_code == 302
    _subscribe(post_event, account)

    response = client.post("/billing/subscribe/", {"plan": "premium"}, follow=True)

    assert "already have a subscription" in response.content.decode()
    assert not any(c[1] == "/v1/checkout/sessions" for c in fake_stripe.calls)


def test_portal_redirects_to_stripe_for_the_own_customer(client, account, alice, fake_stripe):
    client.force_login(alice)

    response = client.post("/billing/portal/")

    assert response.status_code == 303
    assert response["Location"] == "https://billing.example.test/portal"
    assert fake_stripe.calls[-1][3]["customer"] == ["cus_alice"]
    assert client.get("/billing/portal/").status_code == 405


# --- The first month, every order, twice ------------------------------------------------------------

ORDERS = list(
    itertools.permutations(["customer.subscription.created", "invoice.paid", "checkout.session.completed"])
)


@pytest.mark.parametrize("order", ORDERS, ids=["→".join(t.split(".")[-1] for t in o) for o in ORDERS])
def test_first_month_in_any_order_twice_grants_once_and_makes_premium(account, post_event, order):
    objects = {
        "customer.subscription.created": sub_obj(account),
        "invoice.paid": invoice_obj(account, "in_1"),
        "checkout.session.completed": session_obj(account),
    }

    deliver_twice(post_event, [event(type_, objects[type_]) for type_ in order])

    assert _grants(account) == [("in_1", 2000)]
    assert _account(account).plan == Plan.PREMIUM
    sub = Subscription.objects.get()
    assert (sub.status, sub.current_period_end.timestamp()) == (SubscriptionStatus.ACTIVE, P1[1])
    assert ledger_audit() == []


def test_renewal_grants_the_next_month_once_even_under_another_event_id(account, post_event):
    _subscribe(post_event, account)
    renewal = invoice_obj(account, "in_2", period=P2, reason="subscription_cycle")

    deliver_twice(post_event, [event("invoice.paid", renewal, NOW + MONTH)])
    post_event(event("invoice.paid", renewal, NOW + MONTH, evt_id="evt_other_id"))

    assert _grants(account) == [("in_1", 2000), ("in_2", 2000)]
    assert _account(account).balance == 4000
    assert Subscription.objects.get().current_period_end.timestamp() == P2[1]
    assert ledger_audit() == []


def test_unpaid_invoice_grants_nothing(account, post_event):
    post_event(event("invoice.paid", invoice_obj(account, "in_1", status="open")))

    assert _grants(account) == []
    assert _account(account).plan == Plan.FREE


def test_price_change_invoice_grants_no_monthly_credits(account, post_event):
    _subscribe(post_event, account)

    post_event(event("invoice.paid", invoice_obj(account, "in_x", reason="subscription_update", amount=500)))

    assert _grants(account) == [("in_1", 2000)]
    assert SubscriptionInvoice.objects.get(stripe_invoice_id="in_x").status == InvoiceStatus.PAID


def test_monthly_credits_follow_the_plan_at_payment_not_later_edits(account, premium, post_event):
    _subscribe(post_event, account)
    SubscriptionPlan.objects.filter(pk=premium.pk).update(monthly_credits=3000)

    post_event(event("invoice.paid", invoice_obj(account, "in_2", period=P2, reason="subscription_cycle")))

    assert _grants(account) == [("in_1", 2000), ("in_2", 3000)]


# --- A failed renewal: past due, grace, then Standard ------------------------------------------------


def _fail_renewal(post_event, account, created=NOW):
    failed = invoice_obj(account, "in_2", period=P2, status="open", reason="subscription_cycle")
    deliver_twice(
        post_event,
        [
            event("invoice.payment_failed", failed, created),
            event("customer.subscription.updated", sub_obj(account, status="past_due", period=P2), created),
        ],
    )


def test_failed_renewal_is_past_due_with_one_email_and_a_banner_then_standard_after_grace(
    account, alice, client, post_event, settings, django_capture_on_commit_callbacks
):
    settings.ARTIO_PAST_DUE_GRACE_DAYS = 3
    _subscribe(post_event, account)

    # when the renewal fails (both events delivered twice)
    with django_capture_on_commit_callbacks(execute=True):
        _fail_renewal(post_event, account)

    # then the subscription is past due, the user keeps Premium for now, is told once by e-mail …
    sub = Subscription.objects.get()
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert _account(account).plan == Plan.PREMIUM
    assert len(mail.outbox) == 1
    assert "renewal payment failed" in mail.outbox[0].subject
    assert _grants(account) == [("in_1", 2000)]
    # … and on every page
    client.force_login(alice)
    assert "renewal payment failed" in client.get("/pricing/").content.decode()

    # when the grace period is over (no event: the sweep notices)
    later = timezone.now() + datetime.timedelta(days=3, minutes=1)
    assert subscriptions.subscription_grace_sweep(now=later) == 1

    # then Standard, with the credits kept
    assert _account(account).plan == Plan.STANDARD
    assert _account(account).balance == 2000
    assert ledger_audit() == []


def test_grace_sweep_leaves_accounts_within_grace(account, post_event):
    _subscribe(post_event, account)
    _fail_renewal(post_event, account)

    assert subscriptions.subscription_grace_sweep(now=timezone.now() + datetime.timedelta(days=2)) == 0
    assert _account(account).plan == Plan.PREMIUM


def test_retry_that_succeeds_restores_active_and_grants(account, post_event):
    _subscribe(post_event, account)
    _fail_renewal(post_event, account)

    paid = invoice_obj(account, "in_2", period=P2, reason="subscription_cycle")
    deliver_twice(post_event, [event("invoice.paid", paid, NOW + 60)])

    sub = Subscription.objects.get()
    assert (sub.status, sub.past_due_since) == (SubscriptionStatus.ACTIVE, None)
    assert _grants(account) == [("in_1", 2000), ("in_2", 2000)]
    assert _account(account).plan == Plan.PREMIUM


def test_payment_failed_arriving_after_the_retry_paid_changes_nothing(
    account, post_event, django_capture_on_commit_callbacks
):
    _subscribe(post_event, account)
    paid = invoice_obj(account, "in_2", period=P2, reason="subscription_cycle")
    failed = invoice_obj(account, "in_2", period=P2, status="open", reason="subscription_cycle")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_twice(
            post_event,
            [
                event("invoice.paid", paid, NOW + 60),
                event("customer.subscription.updated", sub_obj(account, period=P2), NOW + 60),
                # the older news, late
                event("invoice.payment_failed", failed, NOW),
                event("customer.subscription.updated", sub_obj(account, status="past_due", period=P2), NOW),
            ],
        )

    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert SubscriptionInvoice.objects.get(stripe_invoice_id="in_2").status == InvoiceStatus.PAID
    assert mail.outbox == []
    assert _grants(account) == [("in_1", 2000), ("in_2", 2000)]


# --- Cancel, reactivate, price change, end ----------------------------------------------------------


def test_cancel_at_period_end_then_reactivate_and_a_late_older_update_is_ignored(account, post_event):
    _subscribe(post_event, account)
    canceling = sub_obj(account, cancel=True)
    kept = sub_obj(account, cancel=False)

    deliver_twice(
        post_event,
        [
            event("customer.subscription.updated", kept, NOW + 20),
            event("customer.subscription.updated", canceling, NOW + 10),  # older, arrives last
        ],
    )

    sub = Subscription.objects.get()
    assert sub.cancel_at_period_end is False
    assert _account(account).plan == Plan.PREMIUM

    post_event(event("customer.subscription.updated", sub_obj(account, cancel=True), NOW + 30))
    assert Subscription.objects.get().cancel_at_period_end is True


def test_deleted_goes_back_to_standard_keeps_credits_and_is_final(account, post_event):
    _subscribe(post_event, account)

    deliver_twice(
        post_event,
        [
            event("customer.subscription.deleted", sub_obj(account, status="canceled"), NOW + 100),
            # an update from before the end, delivered late: the subscription stays canceled
            event("customer.subscription.updated", sub_obj(account, period=P2), NOW + 50),
        ],
    )

    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED
    account = _account(account)
    assert (account.plan, account.balance) == (Plan.STANDARD, 2000)
    assert ledger_audit() == []


def test_deleted_before_anything_else_never_makes_premium(account, post_event):
    deliver_twice(
        post_event,
        [
            event("customer.subscription.deleted", sub_obj(account, status="canceled"), NOW + 100),
            event("customer.subscription.created", sub_obj(account), NOW),
            event("invoice.paid", invoice_obj(account, "in_1"), NOW),
        ],
    )

    assert _account(account).plan == Plan.STANDARD  # it paid once: never below Standard
    assert _grants(account) == [("in_1", 2000)]


def test_price_change_to_another_plan_switches_the_plan(account, post_event):
    _subscribe(post_event, account)
    studio = SubscriptionPlan.objects.create(
        slug="studio", name="Studio", tier=Plan.PREMIUM, price_cents=5000, monthly_credits=6000,
        stripe_price_id="price_studio",
    )  # fmt: skip

    post_event(event("customer.subscription.updated", sub_obj(account, price="price_studio"), NOW + 10))

    assert Subscription.objects.get().plan == studio


# --- Refunds and disputes of a subscription invoice -------------------------------------------------


def _charge(invoice_id, refunded):
    return {"id": f"ch_{invoice_id}", "object": "charge", "amount": 2000, "amount_refunded": refunded,
            "payment_intent": f"pi_{invoice_id}", "currency": "usd"}  # fmt: skip


def _dispute(invoice_id, status):
    return {"id": f"dp_{invoice_id}", "object": "dispute", "amount": 2000, "charge": f"ch_{invoice_id}",
            "payment_intent": f"pi_{invoice_id}", "status": status, "currency": "usd"}  # fmt: skip


def test_refund_of_an_invoice_claws_back_its_share_once(account, post_event):
    _subscribe(post_event, account)

    deliver_twice(
        post_event,
        [event("charge.refunded", _charge("in_1", 1000)), event("charge.refunded", _charge("in_1", 500))],
    )

    rows = LedgerEntry.objects.filter(kind=LedgerKind.REFUND_CLAWBACK).values_list("reference", "amount")
    assert list(rows) == [("refund:in_1:1000", -1000)]
    assert _account(account).balance == 1000
    assert ledger_audit() == []


def test_dispute_of_an_invoice_claws_back_freezes_and_a_win_restores(account, post_event):
    _subscribe(post_event, account)

    deliver_twice(post_event, [event("charge.dispute.created", _dispute("in_1", "needs_response"))])
    assert (_account(account).balance, _account(account).frozen) == (0, True)

    deliver_twice(post_event, [event("charge.dispute.closed", _dispute("in_1", "won"))])
    assert (_account(account).balance, _account(account).frozen) == (2000, False)
    assert ledger_audit() == []


def test_refund_before_the_invoice_is_recorded_is_retried_not_lost(account, post_event, fake_stripe):
    fake_stripe.invoice_payments["pi_in_1"] = "in_1"
    refund = event("charge.refunded", _charge("in_1", 2000))

    # Stripe says the payment paid an invoice we have not recorded: 500, so Stripe delivers again
    assert post_event(refund).status_code == 500

    _subscribe(post_event, account)
    assert post_event(refund).status_code == 200
    assert _account(account).balance == 0
    assert ledger_audit() == []


def test_refund_of_a_payment_that_is_no_invoice_of_ours_is_ignored(account, post_event, fake_stripe):
    assert post_event(event("charge.refunded", _charge("in_unknown", 2000))).status_code == 200
    assert not LedgerEntry.objects.exists()


# --- What the user and the API see ------------------------------------------------------------------


def test_balance_api_shows_plan_and_subscription(account, alice, client, post_event, fresh_cache):
    _, raw = api_key_create(user=alice)
    assert (
        "subscription" not in client.get("/api/v1/balance", headers={"Authorization": f"Bearer {raw}"}).json()
    )
    _subscribe(post_event, account)
    post_event(event("customer.subscription.updated", sub_obj(account, cancel=True), NOW + 10))

    body = client.get("/api/v1/balance", headers={"Authorization": f"Bearer {raw}"}).json()

    assert body["plan"] == "premium"
    assert body["subscription"]["status"] == "active"
    assert body["subscription"]["cancel_at_period_end"] is True
    assert body["subscription"]["current_period_end"].startswith(
        datetime.datetime.fromtimestamp(P1[1], tz=datetime.UTC).strftime("%Y-%m-%d")
    )


def test_billing_page_shows_plan_renewal_and_receipts(account, alice, client, post_event):
    _subscribe(post_event, account)
    client.force_login(alice)

    page = client.get("/billing/").content.decode()

    assert "Next renewal" in page
    assert "$20.00" in page
    assert "https://invoice.example.test/in_1" in page
    assert 'action="/billing/portal/"' in page


def test_pricing_shows_free_standard_and_premium_with_a_subscribe_form(alice, client, premium):
    client.force_login(alice)

    page = client.get("/pricing/").content.decode()

    assert "Pay as you go" in page
    assert "Subscribe to Premium" in page
    assert 'action="/billing/subscribe/"' in page
    assert "Ask us to enable it" not in page


# --- Concurrent duplicates (PostgreSQL: real row locks) ---------------------------------------------


def _run_threads(count, fn):
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _deliver_concurrently(events):
    bodies = [json.dumps(evt) for evt in events]

    def deliver(i):
        body = bodies[i % len(bodies)]
        response = Client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json",
            headers={"Stripe-Signature": sign(body)},
        )  # fmt: skip
        return response.status_code

    return _run_threads(len(bodies) * 5, deliver)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_month_events_delivered_concurrently_grant_once(account):
    events = [
        event("customer.subscription.created", sub_obj(account)),
        event("checkout.session.completed", session_obj(account)),
        # the same invoice under several event ids (Stripe may send two events for one change)
        *[event("invoice.paid", invoice_obj(account, "in_1"), evt_id=f"evt_paid_{n}") for n in range(3)],
    ]

    statuses = _deliver_concurrently(events)

    assert statuses == [200] * len(statuses)
    assert _grants(account) == [("in_1", 2000)]
    assert _account(account).plan == Plan.PREMIUM
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_renewal_failure_and_retry_delivered_concurrently_end_active_with_one_grant(account):
    for evt in [
        event("customer.subscription.created", sub_obj(account)),
        event("invoice.paid", invoice_obj(account, "in_1")),
    ]:
        assert _deliver_concurrently([evt])[0] == 200
    failed = invoice_obj(account, "in_2", period=P2, status="open", reason="subscription_cycle")
    paid = invoice_obj(account, "in_2", period=P2, reason="subscription_cycle")

    statuses = _deliver_concurrently(
        [
            event("invoice.payment_failed", failed, NOW),
            event("customer.subscription.updated", sub_obj(account, status="past_due", period=P2), NOW),
            event("invoice.paid", paid, NOW + 60),
            event("customer.subscription.updated", sub_obj(account, period=P2), NOW + 60),
        ]
    )

    assert statuses == [200] * len(statuses)
    assert _grants(account) == [("in_1", 2000), ("in_2", 2000)]
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert _account(account).plan == Plan.PREMIUM
    assert ledger_audit() == []
