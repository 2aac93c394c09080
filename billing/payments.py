"""Payments: buying credits through Stripe Checkout, refunds and disputes of those payments, and
Stripe's events (stored once, dispatched to the service that applies each), plus the sandbox's side.

Top-up `status`: created → pending → paid | failed | expired. Each transition is a compare-and-swap
on the "from" states (`filter(status__in=FROM).update(status=TO)`), taken while holding the TopUp
row lock (select_for_update) where Stripe may deliver the same news twice at once.

Refunds and disputes are order-independent: the TopUp keeps what Stripe told us cumulatively
(`refunded_cents`, the dispute state), and `_topup_clawback_settle` moves `clawed_credits` to the
target that implies, so a replay, a late older event or an event before payment all end in the
same balance.

Locking order, everywhere: a TopUp row first, then the Account row (the conditional UPDATE in
`ledger_post`). Charges touch only the Account, so nothing can deadlock.
"""

import logging
import secrets
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from artio.mail import mail_send
from catalog.models import CatalogSettings, CreditPack, Plan
from catalog.money import usd_cents

from . import stripe_gateway, subscriptions
from .models import (
    Account,
    BillingSettings,
    DisputeStatus,
    FrozenCause,
    LedgerKind,
    StripeEvent,
    TopUp,
    TopUpStatus,
)
from .services import (
    AccountFrozen,
    BillingError,
    account_for_user,
    account_freeze,
    account_unfreeze,
    clawback_settle,
    ledger_post,
    thresholds_rearm,
)

logger = logging.getLogger("billing")


# A paid session is credited whatever we recorded before: Stripe took the money, and Stripe does not
# order its events, so an earlier "failed" or "expired" must not lose a payment.
_UNPAID = [TopUpStatus.CREATED, TopUpStatus.PENDING, TopUpStatus.FAILED, TopUpStatus.EXPIRED]
_OPEN = [TopUpStatus.CREATED, TopUpStatus.PENDING]


class TopUpInvalid(BillingError):
    """The requested top-up cannot be bought (unknown pack, amount out of range)."""


def _public_id():
    return "top_" + secrets.token_hex(12)


def _topup_move(topup, *, from_, to, **fields):
    """Compare-and-swap `topup` from one of the `from_` states to `to` (with `fields`).

    Return True and update the instance when this call made the move, False when the row was
    already elsewhere (a repeat or a concurrent delivery got there first).
    """
    moved = TopUp.objects.filter(pk=topup.pk, status__in=from_).update(status=to, **fields)
    if moved:
        topup.status = to
        for name, value in fields.items():
            setattr(topup, name, value)
    return bool(moved)


def topup_create(*, user, pack_id=None, amount_cents=None, next_url="", save_card=False):
    """Create the TopUp row (status created) for a credit pack or a custom amount at the base rate.

    `save_card`: Checkout keeps the card on the account's Stripe Customer for automatic top-ups.
    """
    account = account_for_user(user=user)
    if account.frozen:
        raise AccountFrozen(reason=account.frozen_reason)
    if pack_id is not None:
        pack = CreditPack.objects.filter(pk=pack_id, is_active=True).first()
        if pack is None:
            raise TopUpInvalid("That credit pack is not on sale any more.")
        amount_cents, credits, description = pack.price_cents, pack.credits, pack.name
        rate = (Decimal(pack.price_cents) / 100 / pack.credits).quantize(Decimal("0.00000001"))
    else:
        limits = BillingSettings.load()
        amount_cents = int(amount_cents)
        if amount_cents < limits.topup_min_cents:
            raise TopUpInvalid(f"The minimum top-up is {usd_cents(limits.topup_min_cents)}.")
        if amount_cents > limits.topup_max_cents:
            raise TopUpInvalid(f"The maximum top-up is {usd_cents(limits.topup_max_cents)}.")
        rate = CatalogSettings.load().usd_per_credit
        credits = int((Decimal(amount_cents) / (rate * 100)).to_integral_value(rounding=ROUND_FLOOR))
        if credits < 1:
            raise TopUpInvalid("That amount buys no credits.")
        pack, description = None, "Custom amount"
    return TopUp.objects.create(
        public_id=_public_id(),
        account=account,
        pack=pack,
        description=description,
        amount_cents=amount_cents,
        currency="usd",
        credits=credits,
        usd_per_credit=rate,
        next_url=next_url or "",
        save_card=bool(save_card),
    )


def topup_checkout_start(*, topup, email, success_url, cancel_url):
    """Open the Checkout Session for a new top-up and return the URL to send the user to."""
    try:
        customer_id = None
        if topup.save_card:
            customer_id = subscriptions.customer_ensure(account=topup.account, email=email)
        session = stripe_gateway.checkout_session_create(
            topup=topup, email=email, success_url=success_url, cancel_url=cancel_url, customer_id=customer_id
        )
    except stripe_gateway.GatewayError as exc:
        _topup_move(
            topup,
            from_=[TopUpStatus.CREATED],
            to=TopUpStatus.FAILED,
            problem=f"Checkout could not be opened: {exc}"[:255],
        )
        logger.error("checkout session create failed for %s: %s", topup.public_id, exc)
        raise
    _topup_move(topup, from_=[TopUpStatus.CREATED], to=TopUpStatus.PENDING, stripe_session_id=session["id"])
    return session["url"]


def _amount_mismatch(topup, *, amount, currency):
    """Record and return True when Stripe took another amount than the top-up's: nothing is credited."""
    currency = str(currency or "").lower()
    if amount == topup.amount_cents and currency == topup.currency:
        return False
    topup.problem = (
        f"Stripe reported {amount} {currency or '?'}; expected {topup.amount_cents} {topup.currency}. "
        "Not credited."
    )[:255]
    topup.save(update_fields=["problem"])
    logger.error("top-up %s amount mismatch: %s", topup.public_id, topup.problem)
    return True


def _topup_locked(*, session):
    """Return the TopUp a Checkout Session is about, row-locked, or None."""
    topup = TopUp.objects.select_for_update().filter(stripe_session_id=session["id"]).first()
    if topup is None:
        # The session may have been created but its id never saved (a crash in between):
        # the metadata we put on it still names the top-up.
        topup_id = str((session.get("metadata") or {}).get("topup_id") or "")
        if topup_id.isdigit():
            topup = TopUp.objects.select_for_update().filter(pk=int(topup_id)).first()
            if topup is not None and topup.stripe_session_id and topup.stripe_session_id != session["id"]:
                return None
            if topup is not None:
                topup.stripe_session_id = session["id"]
                topup.save(update_fields=["stripe_session_id"])
    return topup


@transaction.atomic
def topup_fulfil(*, session):
    """Credit the top-up a paid Checkout Session is for, exactly once; return the TopUp (or None).

    Called by the webhook (with the signed event's session) and the success page (with the session
    retrieved from Stripe), possibly concurrently and repeatedly. The row lock serialises the calls
    (PostgreSQL); the compare-and-swap to paid lets only one of them through even without it
    (SQLite), and the ledger's unique ("topup", "topup:<pk>") backs both up.
    """
    topup = _topup_locked(session=session)
    if topup is None:
        logger.warning("checkout session %s matches no top-up", session.get("id"))
        return None
    if topup.status == TopUpStatus.PAID:
        return topup
    if session.get("payment_status") != "paid":
        # Delayed payment methods: the async_payment_* event decides later.
        _topup_move(topup, from_=[TopUpStatus.CREATED], to=TopUpStatus.PENDING)
        return topup
    if _amount_mismatch(topup, amount=session.get("amount_total"), currency=session.get("currency")):
        return topup
    paid = _topup_move(
        topup,
        from_=_UNPAID,
        to=TopUpStatus.PAID,
        paid_at=timezone.now(),
        stripe_payment_intent_id=session.get("payment_intent") or topup.stripe_payment_intent_id,
        problem="",
    )
    if not paid:
        return topup
    ledger_post(
        account_id=topup.account_id,
        amount=topup.credits,
        kind=LedgerKind.TOPUP,
        reference=f"topup:{topup.pk}",
        description=f"Top-up {topup.amount_display}",
        topup_id=topup.pk,
    )
    Account.objects.filter(pk=topup.account_id, plan=Plan.FREE).update(plan=Plan.STANDARD)
    # A refund or dispute may have arrived before this (Stripe does not order events).
    _topup_clawback_settle(topup=topup)
    thresholds_rearm(account_id=topup.account_id)
    return topup


def topup_fulfil_from_stripe(*, topup):
    """Ask Stripe how the top-up's session stands and fulfil it if paid (the success page's path)."""
    if topup.status == TopUpStatus.PAID or not topup.stripe_session_id:
        return topup
    try:
        session = stripe_gateway.checkout_session_retrieve(session_id=topup.stripe_session_id, topup=topup)
    except stripe_gateway.GatewayError as exc:
        logger.warning("could not retrieve session for %s: %s", topup.public_id, exc)
        return topup
    return topup_fulfil(session=session) or topup


def _topup_close(*, session, status):
    """Move an unpaid top-up to failed or expired; a paid one stays paid."""
    topup = _topup_locked(session=session)
    if topup is not None:
        _topup_move(topup, from_=_OPEN, to=status)
    return topup


@transaction.atomic
def topup_fail(*, session):
    """checkout.session.async_payment_failed: the payment did not go through; no credits move."""
    return _topup_close(session=session, status=TopUpStatus.FAILED)


@transaction.atomic
def topup_expire(*, session):
    """checkout.session.expired: the user never paid."""
    return _topup_close(session=session, status=TopUpStatus.EXPIRED)


# --- Refunds and disputes of paid top-ups ------------------------------------------------------


def _topup_for_payment_locked(*, obj, payment_intent_id, charge_id):
    """Return the row-locked TopUp a Charge or Dispute is about, or None.

    By PaymentIntent, then charge; a refund or dispute may arrive before the session completed, when
    we do not know the PaymentIntent yet, so then by the `topup_id` we put in its metadata.
    """
    locked = TopUp.objects.select_for_update()
    topup = None
    if payment_intent_id:
        topup = locked.filter(stripe_payment_intent_id=payment_intent_id).first()
    if topup is None and charge_id:
        topup = locked.filter(stripe_charge_id=charge_id).first()
    if topup is None:
        metadata = obj.get("metadata") or {}
        if not metadata.get("topup_id"):
            metadata = stripe_gateway.payment_intent_metadata(payment_intent_id=payment_intent_id)
        topup_id, public_id = str(metadata.get("topup_id") or ""), metadata.get("topup_public_id")
        if topup_id.isdigit():
            topup = locked.filter(pk=int(topup_id)).first()
        elif public_id:
            topup = locked.filter(public_id=public_id).first()
    if topup is None:
        return None
    changed = []
    if payment_intent_id and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = payment_intent_id
        changed.append("stripe_payment_intent_id")
    if charge_id and not topup.stripe_charge_id:
        topup.stripe_charge_id = charge_id
        changed.append("stripe_charge_id")
    if changed:
        topup.save(update_fields=changed)
    return topup


TOPUP_CLAWBACK_TEXTS = {
    "won": "Dispute won: credits restored",
    "disputed": "Payment disputed: credits taken back",
    "refunded": "Refund of {amount} (total): credits taken back",
}


def _topup_clawback_settle(*, topup):
    """Bring the credits taken back from a paid top-up to the target, with one ledger row.

    Called with the TopUp row locked. Before payment nothing was granted, so nothing moves;
    `topup_fulfil` settles afterwards. Returns the ledger row or None.
    """
    if topup.status != TopUpStatus.PAID:
        return None
    return clawback_settle(
        payment=topup,
        credits=topup.credits,
        refund_reference=topup.pk,
        texts=TOPUP_CLAWBACK_TEXTS,
        topup_id=topup.pk,
    )


@transaction.atomic
def topup_refund_record(*, charge):
    """charge.refunded: claw back credits for the newly refunded part (amount_refunded is cumulative)."""
    topup = _topup_for_payment_locked(
        obj=charge, payment_intent_id=charge.get("payment_intent"), charge_id=charge.get("id")
    )
    if topup is None:
        logger.warning("refund for charge %s matches no top-up", charge.get("id"))
        return None
    cumulative = min(int(charge.get("amount_refunded") or 0), topup.amount_cents)
    if cumulative <= topup.refunded_cents:
        return topup  # a replay, or an older event arriving late
    topup.refunded_cents = cumulative
    topup.save(update_fields=["refunded_cents"])
    _topup_clawback_settle(topup=topup)
    logger.warning("top-up %s refunded %s cents in total", topup.public_id, cumulative)
    return topup


@transaction.atomic
def topup_dispute_open(*, dispute):
    """charge.dispute.created: take back all the top-up's credits (even into debt) and freeze."""
    topup = _topup_for_payment_locked(
        obj=dispute, payment_intent_id=dispute.get("payment_intent"), charge_id=dispute.get("charge")
    )
    if topup is None:
        logger.error("dispute %s matches no top-up", dispute.get("id"))
        return None
    if topup.dispute_id == dispute["id"] and topup.dispute_status:
        return topup  # already open, or already closed (the close arrived first)
    topup.dispute_id, topup.dispute_status = dispute["id"], DisputeStatus.OPEN
    topup.save(update_fields=["dispute_id", "dispute_status"])
    _topup_clawback_settle(topup=topup)
    account_freeze(
        account_id=topup.account_id, reason=f"Payment disputed ({dispute['id']})", cause=FrozenCause.DISPUTE
    )
    logger.error("dispute %s opened on top-up %s: account frozen", dispute["id"], topup.public_id)
    return topup


@transaction.atomic
def topup_dispute_close(*, dispute):
    """charge.dispute.closed: won → restore the credits, unfreeze if nothing else is open; lost → keep."""
    outcome = {
        "won": DisputeStatus.WON,
        "warning_closed": DisputeStatus.WON,  # an inquiry that never became a chargeback
        "lost": DisputeStatus.LOST,
    }.get(dispute.get("status"))
    if outcome is None:
        logger.warning("dispute %s closed with status %s: ignored", dispute.get("id"), dispute.get("status"))
        return None
    topup = _topup_for_payment_locked(
        obj=dispute, payment_intent_id=dispute.get("payment_intent"), charge_id=dispute.get("charge")
    )
    if topup is None:
        logger.error("dispute %s matches no top-up", dispute.get("id"))
        return None
    if topup.dispute_id == dispute["id"] and topup.dispute_status in (DisputeStatus.WON, DisputeStatus.LOST):
        return topup
    topup.dispute_id, topup.dispute_status = dispute["id"], outcome
    topup.save(update_fields=["dispute_id", "dispute_status"])
    _topup_clawback_settle(topup=topup)
    if outcome == DisputeStatus.LOST:
        account_freeze(
            account_id=topup.account_id,
            reason=f"Payment dispute lost ({dispute['id']})",
            cause=FrozenCause.DISPUTE,
        )
    elif not TopUp.objects.filter(account_id=topup.account_id, dispute_status=DisputeStatus.OPEN).exists():
        account_unfreeze(
            account_id=topup.account_id, reason=f"Dispute {dispute['id']} won", only_cause=FrozenCause.DISPUTE
        )
    logger.warning("dispute %s on top-up %s closed: %s", dispute["id"], topup.public_id, outcome)
    return topup


# --- Automatic top-ups: off-session charges on the saved card ------------------------------------


def auto_topup_create(*, account, pack):
    """Create the pending TopUp an automatic top-up charges for (the account row locked by the caller)."""
    return TopUp.objects.create(
        public_id=_public_id(),
        account=account,
        pack=pack,
        description=f"Automatic top-up: {pack.name}",
        amount_cents=pack.price_cents,
        currency="usd",
        credits=pack.credits,
        usd_per_credit=(Decimal(pack.price_cents) / 100 / pack.credits).quantize(Decimal("0.00000001")),
        status=TopUpStatus.PENDING,
        automatic=True,
    )


def auto_topup_intent_record(*, topup, payment_intent_id):
    """Keep the PaymentIntent id of an automatic top-up (refunds and disputes find it by it)."""
    TopUp.objects.filter(pk=topup.pk, stripe_payment_intent_id="").update(
        stripe_payment_intent_id=payment_intent_id
    )


def _topup_for_intent_locked(*, intent):
    """Return the row-locked TopUp a PaymentIntent is for (by its id, then our metadata), or None."""
    locked = TopUp.objects.select_for_update()
    topup = locked.filter(stripe_payment_intent_id=intent["id"]).first() if intent.get("id") else None
    if topup is None:
        public_id = (intent.get("metadata") or {}).get("topup_public_id")
        topup = locked.filter(public_id=public_id).first() if public_id else None
    return topup


@transaction.atomic
def topup_intent_succeeded(*, intent):
    """payment_intent.succeeded: credit an automatic top-up exactly once; keep a card saved at checkout.

    A checkout top-up is credited by checkout.session.completed, never here.
    """
    topup = _topup_for_intent_locked(intent=intent)
    if topup is None:
        return None
    if not topup.automatic:
        if topup.save_card and intent.get("payment_method"):
            card_save(account_id=topup.account_id, intent=intent)
        return topup
    if topup.status == TopUpStatus.PAID:
        return topup
    if _amount_mismatch(topup, amount=intent.get("amount_received"), currency=intent.get("currency")):
        return topup
    if not _topup_move(
        topup, from_=_UNPAID, to=TopUpStatus.PAID, paid_at=timezone.now(),
        stripe_payment_intent_id=intent["id"], problem="",
    ):  # fmt: skip
        return topup
    ledger_post(
        account_id=topup.account_id,
        amount=topup.credits,
        kind=LedgerKind.TOPUP,
        reference=f"topup:{topup.pk}",
        description=f"Automatic top-up {topup.amount_display}",
        topup_id=topup.pk,
    )
    _topup_clawback_settle(topup=topup)
    thresholds_rearm(account_id=topup.account_id)
    return topup


def card_save(*, account_id, intent):
    """Keep the card a checkout saved, if it is on the account's own Stripe Customer."""
    return bool(
        Account.objects.filter(pk=account_id, stripe_customer_id=intent.get("customer")).update(
            stripe_payment_method_id=intent["payment_method"]
        )
    )


def topup_intent_failed(*, intent):
    """payment_intent.payment_failed: an automatic top-up was declined (once: turns it off, tells)."""
    topup = TopUp.objects.filter(
        public_id=(intent.get("metadata") or {}).get("topup_public_id") or ""
    ).first()
    if topup is None or not topup.automatic:
        return None
    error = intent.get("last_payment_error") or {}
    return auto_topup_decline(
        topup=topup,
        code=error.get("code") or "card_declined",
        message=error.get("message") or "The card was declined.",
        payment_intent_id=intent.get("id") or "",
    )


@transaction.atomic
def auto_topup_decline(*, topup, code, message, payment_intent_id=""):
    """Fail a declined automatic top-up, turn automatic top-up off and e-mail the user, once."""
    if not _topup_move(
        topup, from_=_OPEN, to=TopUpStatus.FAILED,
        stripe_payment_intent_id=payment_intent_id or topup.stripe_payment_intent_id,
        problem=f"Declined ({code}): {message}"[:255],
    ):  # fmt: skip
        return topup
    if code == "authentication_required":
        reason = "Your bank asked to confirm the payment in person, so automatic top-up is off."
    else:
        reason = f"Your card was declined ({code.replace('_', ' ')}), so automatic top-up is off."
    Account.objects.filter(pk=topup.account_id).update(
        auto_topup_enabled=False, auto_topup_stopped_reason=reason[:255]
    )
    email = Account.objects.filter(pk=topup.account_id).values_list("user__email", flat=True).first()
    logger.warning("automatic top-up %s declined (%s): turned off", topup.public_id, code)
    # After commit, and robust: a mail server that fails must not undo (or re-run) the decline.
    transaction.on_commit(lambda: _decline_mail(email=email, topup=topup, reason=reason), robust=True)
    return topup


def _decline_mail(*, email, topup, reason):
    mail_send(
        to=[email],
        subject="Your automatic top-up was declined",
        name="topup_declined",
        context={
            "credits": f"{topup.credits:,}",
            "amount": topup.amount_display,
            "reason": reason,
            "action_url": f"{settings.ARTIO_PUBLIC_URL}/billing/",
            "action_label": "Go to billing",
        },
    )


# --- Stripe's events -------------------------------------------------------------------------


def _checkout_completed(session, event):
    if session.get("mode") == "subscription":
        return subscriptions.checkout_completed(session=session, event=event)
    return topup_fulfil(session=session)


def _refund_record(charge, event):
    """charge.refunded of a subscription invoice or a top-up (whichever the payment was)."""
    row = subscriptions.invoice_refund_record(charge=charge)
    if row is None and topup_refund_record(charge=charge) is None:
        subscriptions.invoice_pending_check(payment_intent_id=charge.get("payment_intent"))
    return row


def _dispute_record(dispute, event, *, closed):
    row = subscriptions.invoice_dispute_record(dispute=dispute, closed=closed)
    if row is not None:
        return row
    topup = topup_dispute_close(dispute=dispute) if closed else topup_dispute_open(dispute=dispute)
    if topup is None:
        subscriptions.invoice_pending_check(payment_intent_id=dispute.get("payment_intent"))
    return topup


# Each takes (the event's object, the event).
_EVENT_HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": lambda obj, event: topup_fulfil(session=obj),
    "checkout.session.async_payment_failed": lambda obj, event: topup_fail(session=obj),
    "checkout.session.expired": lambda obj, event: topup_expire(session=obj),
    "charge.refunded": _refund_record,
    "charge.dispute.created": lambda obj, event: _dispute_record(obj, event, closed=False),
    "charge.dispute.closed": lambda obj, event: _dispute_record(obj, event, closed=True),
    "payment_intent.succeeded": lambda obj, event: topup_intent_succeeded(intent=obj),
    "payment_intent.payment_failed": lambda obj, event: topup_intent_failed(intent=obj),
    "invoice.paid": lambda obj, event: subscriptions.invoice_paid(invoice=obj, event=event),
    "invoice.payment_failed": lambda obj, event: subscriptions.invoice_payment_failed(
        invoice=obj, event=event
    ),
    "customer.subscription.created": lambda obj, event: subscriptions.subscription_changed(
        subscription=obj, event=event
    ),
    "customer.subscription.updated": lambda obj, event: subscriptions.subscription_changed(
        subscription=obj, event=event
    ),
    "customer.subscription.deleted": lambda obj, event: subscriptions.subscription_changed(
        subscription=obj, event=event
    ),
}


def stripe_event_process(*, event):
    """Store a verified Stripe event once and apply it; return False when it was seen before.

    The event row and its effects commit together: if handling raises, both roll back, the webhook
    answers 500 and Stripe's retry finds a clean slate.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(
                    event_id=event["id"],
                    type=event.get("type", ""),
                    livemode=bool(event.get("livemode")),
                    payload=event,
                )
        except IntegrityError:
            return False
        handler = _EVENT_HANDLERS.get(event.get("type"))
        if handler is not None:
            handler(event["data"]["object"], event)
    return True


# --- Sandbox checkout (settings.STRIPE_SANDBOX only) ----------------------------------------------


def sandbox_checkout_pay(*, topup, card=stripe_gateway.SANDBOX_CARD_OK):
    """Play Stripe's part of a successful payment: record it, then deliver the signed event.

    With `topup.save_card`, Stripe's payment_intent.succeeded then names the card (`card`, a
    sandbox payment method: SANDBOX_CARD_DECLINES saves but declines every later charge).

    The record is committed before the HTTP delivery, so the webhook (another request, maybe another
    process) sees it and nothing here holds a lock while waiting. Return the webhook's status or None.
    """
    TopUp.objects.filter(pk=topup.pk, status__in=[TopUpStatus.CREATED, TopUpStatus.PENDING]).update(
        sandbox_paid=True
    )
    topup.refresh_from_db()
    if not topup.sandbox_paid:
        return None
    status = stripe_gateway.sandbox_event_send(topup=topup, event_type="checkout.session.completed")
    if status != 200:
        logger.warning("sandbox webhook delivery for %s answered %s", topup.public_id, status)
    if topup.save_card:
        intent = stripe_gateway.sandbox_intent(
            topup=topup, payment_method_id=card, customer_id=topup.account.stripe_customer_id, succeeded=True
        )
        stripe_gateway.sandbox_event_post(event_type="payment_intent.succeeded", obj=intent)
    return status


def sandbox_checkout_cancel(*, topup):
    """Play Stripe's part of an abandoned checkout: the session expires."""
    if topup.sandbox_paid or topup.status != TopUpStatus.PENDING:
        return None
    return stripe_gateway.sandbox_event_send(topup=topup, event_type="checkout.session.expired")
