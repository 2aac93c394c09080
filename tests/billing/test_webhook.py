"""docs/reference/stripe.md §3 checklist, one case per row, over the test client with signed events."""

import json
import logging
import time

import pytest

from billing import payments, services
from billing.models import Account, LedgerEntry, LedgerKind, StripeEvent, TopUp, TopUpStatus
from billing.selectors import ledger_audit
from catalog.models import Plan

from .conftest import charge_obj, dispute_obj, make_event, session_obj

pytestmark = pytest.mark.django_db


def _balance(user):
    return Account.objects.get(user=user).balance


def _spend(user, credits, ref="gen_spent"):
    account = Account.objects.get(user=user)
    services.credits_charge(account_id=account.pk, amount=credits, reference=ref)


# 1
def test_paid_checkout_completed_grants_credits_once_and_marks_paid(alice, make_topup, post_event):
    topup = make_topup(alice, 1000)

    response = post_event(make_event("checkout.session.completed", session_obj(topup)))

    assert response.status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert topup.credits == 2000
    rows = LedgerEntry.objects.filter(kind=LedgerKind.TOPUP, topup=topup)
    assert [(r.amount, r.reference) for r in rows] == [(2000, f"topup:{topup.pk}")]
    assert _balance(alice) == 2000
    assert topup.stripe_payment_intent_id == f"pi_{topup.public_id}"


def test_first_paid_topup_moves_free_plan_to_standard(alice, make_topup, post_event):
    topup = make_topup(alice)
    assert Account.objects.get(user=alice).plan == Plan.FREE

    post_event(make_event("checkout.session.completed", session_obj(topup)))

    assert Account.objects.get(user=alice).plan == Plan.STANDARD


def test_paid_topup_keeps_premium_plan(alice, make_topup, post_event):
    topup = make_topup(alice)
    Account.objects.filter(user=alice).update(plan=Plan.PREMIUM)

    post_event(make_event("checkout.session.completed", session_obj(topup)))

    assert Account.objects.get(user=alice).plan == Plan.PREMIUM


# 2
def test_same_event_reposted_grants_nothing_more(alice, make_topup, post_event):
    topup = make_topup(alice)
    event = make_event("checkout.session.completed", session_obj(topup))

    assert post_event(event).status_code == 200
    assert post_event(event).status_code == 200

    assert _balance(alice) == 2000
    assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1


def test_same_session_under_another_event_id_grants_once(alice, make_topup, post_event):
    topup = make_topup(alice)

    post_event(make_event("checkout.session.completed", session_obj(topup), evt_id="evt_a"))
    response = post_event(make_event("checkout.session.completed", session_obj(topup), evt_id="evt_b"))

    assert response.status_code == 200
    assert _balance(alice) == 2000
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1
    assert StripeEvent.objects.count() == 2


# 3
def test_success_page_then_webhook_grants_once(alice, client, make_topup, post_event):
    topup = make_topup(alice)
    TopUp.objects.filter(pk=topup.pk).update(sandbox_paid=True)  # Stripe's side: the customer paid
    client.force_login(alice)

    page = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")
    post_event(make_event("checkout.session.completed", session_obj(topup)))

    assert page.status_code == 200
    assert "2,000 credits added" in page.content.decode()
    assert _balance(alice) == 2000
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1


def test_webhook_then_success_page_grants_once(alice, client, make_topup, post_event):
    topup = make_topup(alice)
    TopUp.objects.filter(pk=topup.pk).update(sandbox_paid=True)
    client.force_login(alice)

    post_event(make_event("checkout.session.completed", session_obj(topup)))
    page = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")

    assert page.status_code == 200
    assert _balance(alice) == 2000
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1


def test_fulfil_called_twice_writes_one_row(alice, make_topup):
    topup = make_topup(alice)

    payments.topup_fulfil(session=session_obj(topup))
    payments.topup_fulfil(session=session_obj(topup))

    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1
    assert _balance(alice) == 2000


# 4
@pytest.mark.parametrize(
    "case",
    ["bad_signature", "wrong_secret", "stale", "missing_header", "tampered", "not_json", "not_an_event"],
)
def test_unverifiable_bodies_are_refused_and_change_nothing(case, alice, make_topup, post_event):
    topup = make_topup(alice)
    event = make_event("checkout.session.completed", session_obj(topup))
    payload = json.dumps(event)
    kwargs = {
        "bad_signature": {"header": f"t={int(time.time())},v1={'0' * 64}"},
        "wrong_secret": {"secret": "whsec_someone_else"},
        "stale": {"t": int(time.time()) - 301},
        "missing_header": {"header": ""},
        "tampered": {"body": payload.replace('"amount_total": 1000', '"amount_total": 9000')},
    }.get(case, {})
    if case == "not_json":
        from .conftest import sign

        body = "this is not json"
        kwargs = {"body": body, "header": sign(body)}
    if case == "not_an_event":
        from .conftest import sign

        body = json.dumps({"hello": "world"})
        kwargs = {"body": body, "header": sign(body)}

    response = post_event(event, **kwargs)

    assert response.status_code == 400
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert not LedgerEntry.objects.exists()
    assert not StripeEvent.objects.exists()


def test_webhook_refuses_get(client):
    assert client.get("/billing/stripe/webhook/").status_code == 405


# 5
def test_unpaid_completion_waits_then_async_success_grants(alice, make_topup, post_event):
    topup = make_topup(alice)

    post_event(make_event("checkout.session.completed", session_obj(topup, payment_status="unpaid")))
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert _balance(alice) == 0

    post_event(make_event("checkout.session.async_payment_succeeded", session_obj(topup)))
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert _balance(alice) == 2000


def test_unpaid_completion_then_async_failure_marks_failed(alice, make_topup, post_event):
    topup = make_topup(alice)

    post_event(make_event("checkout.session.completed", session_obj(topup, payment_status="unpaid")))
    post_event(
        make_event("checkout.session.async_payment_failed", session_obj(topup, payment_status="unpaid"))
    )

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.FAILED
    assert _balance(alice) == 0
    assert not LedgerEntry.objects.exists()


def test_expired_session_marks_topup_expired(alice, make_topup, post_event):
    topup = make_topup(alice)

    post_event(
        make_event("checkout.session.expired", session_obj(topup, status="expired", payment_status="unpaid"))
    )

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.EXPIRED


def test_expired_event_never_unpays_a_paid_topup(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))

    post_event(make_event("checkout.session.expired", session_obj(topup, status="expired")))

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert _balance(alice) == 2000


def test_failure_event_never_unpays_a_paid_topup(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.async_payment_succeeded", session_obj(topup)))

    failed = session_obj(topup, payment_status="unpaid")
    post_event(make_event("checkout.session.async_payment_failed", failed))

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert _balance(alice) == 2000


@pytest.mark.parametrize("earlier", ["checkout.session.expired", "checkout.session.async_payment_failed"])
def test_money_taken_after_an_earlier_failure_or_expiry_is_still_credited_once(
    earlier, alice, make_topup, post_event
):
    # Stripe does not order its events: whatever we recorded first, a paid session was paid.
    topup = make_topup(alice)
    post_event(make_event(earlier, session_obj(topup, payment_status="unpaid")))
    topup.refresh_from_db()
    assert topup.status in (TopUpStatus.EXPIRED, TopUpStatus.FAILED)

    for _ in range(2):
        post_event(make_event("checkout.session.async_payment_succeeded", session_obj(topup)))

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert _balance(alice) == 2000
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1


# 6
@pytest.mark.parametrize("override", [{"amount_total": 999}, {"currency": "eur"}])
def test_amount_or_currency_mismatch_grants_nothing_and_is_logged(
    override, alice, make_topup, post_event, caplog
):
    topup = make_topup(alice)

    with caplog.at_level(logging.ERROR, logger="billing"):
        response = post_event(make_event("checkout.session.completed", session_obj(topup, **override)))

    assert response.status_code == 200
    topup.refresh_from_db()
    assert topup.status != TopUpStatus.PAID
    assert "Not credited" in topup.problem  # visible to staff in the top-up admin
    assert _balance(alice) == 0
    assert any("mismatch" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


# 7
def test_partial_then_full_refund_claws_back_the_delta_each_time(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))

    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=500)))
    assert _balance(alice) == 1000
    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=1000)))
    assert _balance(alice) == 0
    replay = make_event("charge.refunded", charge_obj(topup, amount_refunded=1000))
    post_event(replay)
    post_event(replay)

    assert _balance(alice) == 0
    clawbacks = LedgerEntry.objects.filter(kind=LedgerKind.REFUND_CLAWBACK).order_by("id")
    assert [e.amount for e in clawbacks] == [-1000, -1000]
    topup.refresh_from_db()
    assert topup.refunded_cents == 1000
    assert ledger_audit() == []


def test_refund_uses_the_rate_stored_on_the_topup(alice, make_topup, post_event, half_cent_rate):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    half_cent_rate.usd_per_credit = "0.02"  # a later price change must not alter old grants
    half_cent_rate.save()

    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=250)))

    assert _balance(alice) == 1500


def test_refund_after_spending_leaves_a_debt_that_blocks_spending(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    _spend(alice, 1500)

    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=1000)))

    assert _balance(alice) == -1500
    account = Account.objects.get(user=alice)
    with pytest.raises(services.InsufficientCredits):
        services.credits_charge(account_id=account.pk, amount=1, reference="gen_more")


# 8
def test_dispute_claws_back_everything_into_debt_and_freezes(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    _spend(alice, 500)

    response = post_event(make_event("charge.dispute.created", dispute_obj(topup, status="needs_response")))

    assert response.status_code == 200
    account = Account.objects.get(user=alice)
    assert account.balance == -500
    assert account.frozen
    assert "disputed" in account.frozen_reason
    entry = LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_CLAWBACK)
    assert entry.amount == -2000


def test_dispute_won_restores_credits_and_unfreezes(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    post_event(make_event("charge.dispute.created", dispute_obj(topup, status="needs_response")))

    post_event(make_event("charge.dispute.closed", dispute_obj(topup, status="won")))

    account = Account.objects.get(user=alice)
    assert account.balance == 2000
    assert not account.frozen
    assert LedgerEntry.objects.get(kind=LedgerKind.DISPUTE_REVERSAL).amount == 2000
    assert ledger_audit() == []


def test_dispute_lost_restores_nothing_and_stays_frozen(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    post_event(make_event("charge.dispute.created", dispute_obj(topup, status="needs_response")))

    post_event(make_event("charge.dispute.closed", dispute_obj(topup, status="lost")))

    account = Account.objects.get(user=alice)
    assert account.balance == 0
    assert account.frozen
    assert not LedgerEntry.objects.filter(kind=LedgerKind.DISPUTE_REVERSAL).exists()


def test_won_dispute_keeps_account_frozen_while_another_is_open(alice, make_topup, post_event):
    first, second = make_topup(alice), make_topup(alice)
    for topup in (first, second):
        post_event(make_event("checkout.session.completed", session_obj(topup)))
        post_event(make_event("charge.dispute.created", dispute_obj(topup, status="needs_response")))

    post_event(make_event("charge.dispute.closed", dispute_obj(first, status="won")))

    account = Account.objects.get(user=alice)
    assert account.frozen
    assert account.balance == 2000


def test_won_dispute_never_lifts_a_staff_freeze(alice, make_topup, post_event):
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    post_event(make_event("charge.dispute.created", dispute_obj(topup, status="needs_response")))
    account = Account.objects.get(user=alice)
    services.account_freeze(account_id=account.pk, reason="fraud review")

    post_event(make_event("charge.dispute.closed", dispute_obj(topup, status="won")))

    account.refresh_from_db()
    assert account.frozen
    assert account.frozen_reason == "fraud review"


def test_frozen_account_cannot_spend(alice, make_topup, post_event):
    topup = make_topup(alice, 5000)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    account = Account.objects.get(user=alice)
    services.account_freeze(account_id=account.pk, reason="review")

    with pytest.raises(services.AccountFrozen):
        services.credits_charge(account_id=account.pk, amount=1, reference="gen_x")


# 9
def test_refund_before_completion_ends_with_the_right_balance(alice, make_topup, post_event):
    topup = make_topup(alice)
    intent = f"pi_sandbox_{topup.public_id}"  # unknown to us until completion: found via Stripe's PI metadata

    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=500, payment_intent=intent)))
    assert _balance(alice) == 0
    post_event(make_event("checkout.session.completed", session_obj(topup, payment_intent=intent)))

    assert _balance(alice) == 1000
    kinds = list(LedgerEntry.objects.order_by("id").values_list("kind", "amount"))
    assert kinds == [(LedgerKind.TOPUP, 2000), (LedgerKind.REFUND_CLAWBACK, -1000)]
    assert ledger_audit() == []


def test_dispute_before_completion_ends_clawed_back_and_frozen(alice, make_topup, post_event):
    topup = make_topup(alice)
    intent = f"pi_sandbox_{topup.public_id}"

    post_event(
        make_event(
            "charge.dispute.created", dispute_obj(topup, status="needs_response", payment_intent=intent)
        )
    )
    post_event(make_event("checkout.session.completed", session_obj(topup, payment_intent=intent)))

    account = Account.objects.get(user=alice)
    assert account.balance == 0
    assert account.frozen
    assert ledger_audit() == []


def test_dispute_closed_won_before_created_and_completion_grants_once(alice, make_topup, post_event):
    topup = make_topup(alice)
    intent = f"pi_sandbox_{topup.public_id}"

    post_event(make_event("charge.dispute.closed", dispute_obj(topup, status="won", payment_intent=intent)))
    post_event(
        make_event(
            "charge.dispute.created", dispute_obj(topup, status="needs_response", payment_intent=intent)
        )
    )
    post_event(make_event("checkout.session.completed", session_obj(topup, payment_intent=intent)))

    account = Account.objects.get(user=alice)
    assert account.balance == 2000
    assert not account.frozen


def test_refund_for_unknown_payment_is_acknowledged_without_effect(alice, post_event):
    charge = {"id": "ch_x", "object": "charge", "amount_refunded": 100, "payment_intent": "pi_unknown"}

    response = post_event(make_event("charge.refunded", charge))

    assert response.status_code == 200
    assert not LedgerEntry.objects.exists()


# 11
def test_unhandled_event_types_answer_200_without_side_effects(alice, make_topup, post_event):
    make_topup(alice)

    response = post_event(make_event("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}))

    assert response.status_code == 200
    assert not LedgerEntry.objects.exists()
    assert TopUp.objects.get().status == TopUpStatus.PENDING
    assert StripeEvent.objects.get().type == "payment_intent.succeeded"  # stored once all the same
