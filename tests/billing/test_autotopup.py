"""Automatic top-up and the low-balance e-mail, through the signed webhook and a faked Stripe API."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connections
from django.test import TestCase

from billing import autotopup, payments, services
from billing.models import Account, LedgerEntry, LedgerKind, TopUp, TopUpStatus
from billing.selectors import ledger_audit
from catalog.models import CreditPack
from catalog.services import catalog_seed

from .conftest import make_event, session_obj

FAST = "google/imagen4-fast"


@pytest.fixture
def queued(monkeypatch):
    """Record billing tasks instead of queueing them; run() runs them as a worker would."""
    calls = []
    monkeypatch.setattr(autotopup, "task_enqueue", lambda func, *args: calls.append((func, args)))
    return calls


def run(calls):
    from billing import tasks

    with TestCase.captureOnCommitCallbacks(execute=True):
        results = [getattr(tasks, func.rsplit(".", 1)[1])(*args) for func, args in calls]
    calls.clear()
    return results


@pytest.fixture
def pack(db):
    return CreditPack.objects.create(name="Auto 500", price_cents=500, credits=500)


@pytest.fixture
def card_saved(alice, fake_stripe, make_topup, post_event):
    """Alice bought credits at a checkout with "save this card" ticked; Stripe told us the card."""
    topup = payments.topup_create(user=alice, amount_cents=1000, save_card=True)
    payments.topup_checkout_start(
        topup=topup, email=alice.email, success_url="http://t/s?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://t/c",
    )  # fmt: skip
    topup.refresh_from_db()
    created = fake_stripe.calls[-1][3]
    assert created["payment_intent_data[setup_future_usage]"] == ["off_session"]
    assert created["customer"] == [Account.objects.get(user=alice).stripe_customer_id]
    fake_stripe.pay(topup.stripe_session_id, payment_intent=f"pi_{topup.public_id}")
    assert post_event(make_event("checkout.session.completed", session_obj(topup))).status_code == 200
    account = Account.objects.get(user=alice)
    intent = {
        "id": f"pi_{topup.public_id}", "object": "payment_intent", "amount_received": 1000, "currency": "usd",
        "customer": account.stripe_customer_id, "payment_method": "pm_card_visa", "status": "succeeded",
        "metadata": {"topup_id": str(topup.pk), "topup_public_id": topup.public_id},
    }  # fmt: skip
    assert post_event(make_event("payment_intent.succeeded", intent)).status_code == 200
    account.refresh_from_db()
    assert account.stripe_payment_method_id == "pm_card_visa"
    assert account.balance == 2000  # the checkout credited once; its payment_intent.succeeded did not
    return account


def enable(user, pack, *, threshold=500, limit=5000):
    return autotopup.auto_topup_configure(
        user=user, enabled=True, threshold=threshold, pack_id=pack.pk, monthly_limit_cents=limit
    )


def spend(account, amount, ref):
    """A generation's charge, and the watch generation_create runs after its transaction."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.credits_charge(account_id=account.pk, amount=amount, reference=ref)
        autotopup.balance_watch(account=Account.objects.get(pk=account.pk))


def test_crossing_the_threshold_charges_the_saved_card_once_and_credits_on_the_signed_event(
    alice, card_saved, pack, fake_stripe, queued, post_event
):
    # given auto top-up below 500 with a 500-credit pack, and a balance of 2000
    account = enable(alice, pack)
    # when charges take it to 600, then 400, then 300
    spend(account, 1400, "gen_1")
    assert queued == []
    spend(account, 200, "gen_2")
    spend(account, 100, "gen_3")  # still below: the same crossing, nothing more
    assert len(queued) == 1
    topup = TopUp.objects.get(public_id=run(queued)[0])
    run(queued)  # a re-delivered task finds its crossing charged
    # then one off-session PaymentIntent, keyed by the top-up, on the saved card and Customer
    charges = [call for call in fake_stripe.calls if call[:2] == ("post", "/v1/payment_intents")]
    assert len(charges) == 1
    _, _, key, form = charges[0]
    assert key == f"autotopup-{topup.public_id}"
    assert form["off_session"] == ["true"] and form["confirm"] == ["true"]
    assert form["payment_method"] == ["pm_card_visa"]
    assert form["customer"] == [account.stripe_customer_id]
    assert topup.status == TopUpStatus.PAID and topup.automatic
    # and Stripe's own event, delivered twice, credits nothing more
    intent = fake_stripe.intents[topup.stripe_payment_intent_id]
    for _ in range(2):
        assert post_event(make_event("payment_intent.succeeded", intent)).status_code == 200
    account.refresh_from_db()
    assert account.balance == 300 + 500
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP, topup=topup).count() == 1
    assert account.auto_topup_armed  # back above 500: the next crossing buys again
    assert ledger_audit() == []


def test_the_webhook_alone_credits_an_automatic_top_up_once(
    alice, card_saved, pack, fake_stripe, queued, post_event
):
    account = enable(alice, pack)
    spend(account, 1600, "gen_1")
    topup = payments.auto_topup_create(account=account, pack=pack)
    intent = {
        "id": "pi_auto_x", "object": "payment_intent", "amount_received": 500, "currency": "usd",
        "customer": account.stripe_customer_id, "payment_method": "pm_card_visa", "status": "succeeded",
        "metadata": {"topup_public_id": topup.public_id, "automatic": "1"},
    }  # fmt: skip
    for evt_id in ("evt_a", "evt_b"):  # the same news under two event ids
        assert post_event(make_event("payment_intent.succeeded", intent, evt_id=evt_id)).status_code == 200
    assert Account.objects.get(pk=account.pk).balance == 400 + 500
    assert ledger_audit() == []


@pytest.mark.parametrize("code", ["card_declined", "authentication_required"])
def test_a_declined_card_turns_automatic_top_up_off_and_tells_the_user(
    alice, card_saved, pack, fake_stripe, queued, post_event, code
):
    account = enable(alice, pack)
    fake_stripe.declines["pm_card_visa"] = code
    spend(account, 1600, "gen_1")

    topup = TopUp.objects.get(public_id=run(queued)[0])

    account.refresh_from_db()
    assert topup.status == TopUpStatus.FAILED and code in topup.problem
    assert not account.auto_topup_enabled and account.auto_topup_stopped_reason
    assert account.balance == 400
    assert len(mail.outbox) == 1 and "declined" in mail.outbox[0].subject
    # Stripe's payment_intent.payment_failed for it changes nothing more, and mails no more
    intent = fake_stripe.intents[topup.stripe_payment_intent_id]
    assert post_event(make_event("payment_intent.payment_failed", intent)).status_code == 200
    assert len(mail.outbox) == 1
    # and further crossings buy nothing
    spend(account, 100, "gen_2")
    assert queued == []
    assert ledger_audit() == []


def test_the_monthly_ceiling_is_checked_before_charging(alice, card_saved, pack, fake_stripe, queued):
    account = enable(alice, pack, limit=500)
    spend(account, 1600, "gen_1")
    assert run(queued)[0] is not None  # the first 500 cents of the month
    spend(account, 500, "gen_2")  # 900 → 400: a second crossing
    assert run(queued) == [None]
    account.refresh_from_db()
    assert "limit" in account.auto_topup_stopped_reason
    assert len([c for c in fake_stripe.calls if c[1] == "/v1/payment_intents"]) == 1
    assert ledger_audit() == []


def test_turning_it_on_needs_a_saved_card(alice, pack):
    with pytest.raises(autotopup.AutoTopUpInvalid):
        enable(alice, pack)


def test_low_balance_alert_mails_once_per_crossing(alice, queued, db):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=1000, reason="test")
    autotopup.low_balance_alert_set(user=alice, threshold=300)
    account.refresh_from_db()
    spend(account, 800, "gen_1")
    spend(account, 100, "gen_2")
    run(queued)
    assert len(mail.outbox) == 1 and "low" in mail.outbox[0].subject
    services.balance_adjust(account_id=account.pk, amount=500, reason="back up")
    spend(account, 10, "gen_3")  # back above: re-armed
    spend(account, 400, "gen_4")  # 590 → 190: a new crossing
    run(queued)
    assert len(mail.outbox) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_generations_crossing_the_threshold_charge_once(alice, fake_stripe, queued, post_event):
    from generation.services import generation_create

    # given the catalogue (flushed by transactional tests), a saved card and auto top-up below 1000
    catalog_seed()
    pack = CreditPack.objects.create(name="Auto 500", price_cents=500, credits=500)
    account = services.account_for_user(user=alice)
    Account.objects.filter(pk=account.pk).update(
        plan="premium", stripe_customer_id="cus_alice", stripe_payment_method_id="pm_card_visa"
    )
    services.balance_adjust(account_id=account.pk, amount=1040, reason="race")
    enable(alice, pack, threshold=1000)
    barrier = threading.Barrier(20)

    # when 20 generations at once take the balance from 1040 down through 1000
    def create(i):
        barrier.wait()
        try:
            generation_create(user=alice, model_slug=FAST, data={"prompt": f"race {i}"})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(create, range(20)))

    # then exactly one crossing was claimed, and one off-session charge made
    assert len(queued) == 1
    run(queued)
    assert len([c for c in fake_stripe.calls if c[1] == "/v1/payment_intents"]) == 1
    assert TopUp.objects.filter(automatic=True, status=TopUpStatus.PAID).count() == 1
    assert ledger_audit() == []


def test_billing_page_shows_the_settings_and_saves_them(client, alice, card_saved, pack):
    client.force_login(alice)
    page = client.get("/billing/")
    assert b"Automatic top-up" in page.content and b"Save this card for automatic top-ups" in page.content

    response = client.post(
        "/billing/auto-topup/", {"enabled": "1", "threshold": "300", "pack": pack.pk, "monthly_limit": "20"}
    )

    assert response.status_code == 302
    account = Account.objects.get(user=alice)
    assert account.auto_topup_enabled and account.auto_topup_threshold == 300
    assert account.auto_topup_pack == pack and account.auto_topup_monthly_limit_cents == 2000
    assert client.post("/billing/low-balance/", {"threshold": "100"}).status_code == 302
    assert Account.objects.get(user=alice).low_balance_alert_at == 100
    client.post("/billing/card/forget/")
    account.refresh_from_db()
    assert not account.auto_topup_enabled and not account.stripe_payment_method_id


def test_a_stopped_auto_topup_says_why_on_the_billing_page(
    client, alice, card_saved, pack, fake_stripe, queued
):
    enable(alice, pack)
    fake_stripe.declines["pm_card_visa"] = "card_declined"
    spend(Account.objects.get(user=alice), 1600, "gen_1")
    run(queued)
    client.force_login(alice)
    assert b"automatic top-up is off" in client.get("/billing/").content
