"""Writes to top-ups: creating one, opening its Checkout Session, and its state machine.

`status`: created → pending → paid | failed | expired. Each transition is a compare-and-swap on the
"from" states (`filter(status__in=FROM).update(status=TO)`), taken while holding the TopUp row lock
(select_for_update) where Stripe may deliver the same news twice at once.

Locking order, everywhere: a TopUp row first, then the Account row (the conditional UPDATE in
`_ledger_post`). Charges touch only the Account, so nothing can deadlock.
"""

import logging
import secrets
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import CatalogSettings, CreditPack, Plan

from .. import stripe_gateway
from ..models import Account, BillingSettings, LedgerKind, TopUp, TopUpStatus
from ..money import usd
from .accounts import AccountFrozen, BillingError, _ledger_post, account_for_user
from .payments import _topup_clawback_settle

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


def topup_create(*, user, pack_id=None, amount_cents=None, next_url=""):
    """Create the TopUp row (status created) for a credit pack or a custom amount at the base rate."""
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
            raise TopUpInvalid(f"The minimum top-up is {usd(limits.topup_min_cents)}.")
        if amount_cents > limits.topup_max_cents:
            raise TopUpInvalid(f"The maximum top-up is {usd(limits.topup_max_cents)}.")
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
    )


def topup_checkout_start(*, topup, email, success_url, cancel_url):
    """Open the Checkout Session for a new top-up and return the URL to send the user to."""
    try:
        session = stripe_gateway.checkout_session_create(
            topup=topup, email=email, success_url=success_url, cancel_url=cancel_url
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
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").lower()
    if amount != topup.amount_cents or currency != topup.currency:
        topup.problem = (
            f"Stripe reported {amount} {currency or '?'}; expected {topup.amount_cents} {topup.currency}. "
            "Not credited."
        )[:255]
        topup.save(update_fields=["problem"])
        logger.error("top-up %s amount mismatch: %s", topup.public_id, topup.problem)
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
    _ledger_post(
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
