"""Writes to accounts, the ledger and top-ups. Every balance change goes through `_ledger_post`.

Locking order, everywhere: a TopUp row first (select_for_update), then the Account row (the
conditional UPDATE in `_ledger_post`). Charges touch only the Account, so nothing can deadlock.
"""

import logging
import secrets
import uuid
from decimal import ROUND_FLOOR, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import CatalogSettings, CreditPack, Plan

from . import stripe_gateway
from .models import (
    Account,
    BillingSettings,
    DisputeStatus,
    FrozenCause,
    LedgerEntry,
    LedgerKind,
    StripeEvent,
    TopUp,
    TopUpStatus,
)

logger = logging.getLogger("billing")


class BillingError(Exception):
    """A charge that must not happen; the message is fit to show the user."""


class InsufficientCredits(BillingError):
    def __init__(self, *, required, balance):
        self.required, self.balance = required, balance
        super().__init__(f"This costs {required} credits; your balance is {balance}.")


class AccountFrozen(BillingError):
    def __init__(self, *, reason=""):
        self.reason = reason
        super().__init__("This account is frozen" + (f": {reason}" if reason else "") + ".")


def account_for_user(*, user):
    """Return the user's account, creating it (empty, free plan) on first use."""
    account, _ = Account.objects.get_or_create(user=user)
    return account


def _ledger_post(
    *, account_id, amount, kind, reference, description="", created_by=None, only_if=None, topup_id=None
):
    """Move the balance by `amount` and write its ledger row, in the caller's transaction.

    `only_if` narrows the conditional UPDATE (e.g. enough balance, not frozen); when it matches no
    row nothing is written and None is returned. A second post of the same (kind, reference) raises
    IntegrityError, which rolls back the balance change with it.
    """
    with transaction.atomic():
        updated = Account.objects.filter(pk=account_id, **(only_if or {})).update(
            balance=F("balance") + amount
        )
        if not updated:
            return None
        # Our UPDATE holds the row lock until commit, so this read sees exactly our result.
        balance_after = Account.objects.values_list("balance", flat=True).get(pk=account_id)
        return LedgerEntry.objects.create(
            account_id=account_id,
            amount=amount,
            kind=kind,
            reference=str(reference),
            description=description[:255],
            balance_after=balance_after,
            created_by=created_by,
            topup_id=topup_id,
        )


def credits_charge(*, account_id, amount, reference, kind=LedgerKind.GENERATION_CHARGE, description=""):
    """Take `amount` credits, or raise InsufficientCredits / AccountFrozen; never overdraws.

    One conditional UPDATE (balance >= amount, not frozen) decides, so concurrent charges against
    one balance cannot overdraw it. Call inside the transaction that creates what is paid for.
    """
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    entry = _ledger_post(
        account_id=account_id,
        amount=-amount,
        kind=kind,
        reference=reference,
        description=description,
        only_if={"balance__gte": amount, "frozen": False},
    )
    if entry is None:
        account = Account.objects.get(pk=account_id)
        if account.frozen:
            raise AccountFrozen(reason=account.frozen_reason)
        raise InsufficientCredits(required=amount, balance=account.balance)
    return entry


def credits_refund(*, account_id, amount, reference, description=""):
    """Give back `amount` credits for `reference` exactly once; a repeat returns the first row."""
    if amount <= 0:
        raise ValueError("A refund must be a positive number of credits.")
    kind = LedgerKind.GENERATION_REFUND
    existing = LedgerEntry.objects.filter(kind=kind, reference=str(reference)).first()
    if existing:
        return existing
    try:
        return _ledger_post(
            account_id=account_id, amount=amount, kind=kind, reference=reference, description=description
        )
    except IntegrityError:
        # A concurrent refund of the same reference won the race; it is the one that counts.
        return LedgerEntry.objects.get(kind=kind, reference=str(reference))


class TopUpInvalid(BillingError):
    """The requested top-up cannot be bought (unknown pack, amount out of range)."""


def _ledger_post_once(*, account_id, kind, reference, **kwargs):
    """Post a row that must exist at most once per (kind, reference); a repeat returns the first."""
    existing = LedgerEntry.objects.filter(kind=kind, reference=str(reference)).first()
    if existing:
        return existing
    try:
        return _ledger_post(account_id=account_id, kind=kind, reference=reference, **kwargs)
    except IntegrityError:
        return LedgerEntry.objects.get(kind=kind, reference=str(reference))


# --- Accounts -------------------------------------------------------------------------------------


def signup_bonus_grant(*, user):
    """Grant the sign-up bonus once per user (when their e-mail is verified); return the row or None."""
    credits = BillingSettings.load().signup_bonus_credits
    account = account_for_user(user=user)
    if credits <= 0:
        return None
    return _ledger_post_once(
        account_id=account.pk,
        amount=credits,
        kind=LedgerKind.SIGNUP_BONUS,
        reference=f"signup:{user.pk}",
        description="Welcome bonus",
    )


def balance_adjust(*, account_id, amount, reason, created_by=None):
    """Write a staff `adjustment` row of `amount` credits (signed; may leave the balance negative)."""
    amount = int(amount)
    if amount == 0:
        raise ValueError("An adjustment must change the balance.")
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("An adjustment needs a reason.")
    with transaction.atomic():
        entry = _ledger_post(
            account_id=account_id,
            amount=amount,
            kind=LedgerKind.ADJUSTMENT,
            reference=f"adj:{uuid.uuid4()}",
            description=reason,
            created_by=created_by,
        )
    logger.info(
        "balance adjusted: account=%s amount=%+d by=%s reason=%s", account_id, amount, created_by, reason
    )
    return entry


def account_freeze(*, account_id, reason, cause=FrozenCause.STAFF):
    """Freeze the account so it cannot spend or buy; return True if this call froze it."""
    reason = (reason or "").strip()[:255]
    if not reason:
        raise ValueError("Freezing an account needs a reason.")
    accounts = Account.objects.filter(pk=account_id)
    if cause == FrozenCause.DISPUTE:
        # A dispute never overrides a staff freeze (nor its reason).
        accounts = accounts.filter(frozen=False)
    changed = accounts.update(frozen=True, frozen_reason=reason, frozen_cause=cause)
    logger.warning("account frozen: account=%s cause=%s reason=%s", account_id, cause, reason)
    return bool(changed)


def account_unfreeze(*, account_id, reason, only_cause=None):
    """Lift a freeze; with `only_cause`, only a freeze of that cause. Return True if it was lifted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Unfreezing an account needs a reason.")
    accounts = Account.objects.filter(pk=account_id, frozen=True)
    if only_cause:
        accounts = accounts.filter(frozen_cause=only_cause)
    changed = accounts.update(frozen=False, frozen_reason="", frozen_cause=FrozenCause.NONE)
    if changed:
        logger.info("account unfrozen: account=%s reason=%s", account_id, reason)
    return bool(changed)


# --- Top-ups --------------------------------------------------------------------------------------


def _public_id():
    return "top_" + secrets.token_hex(12)


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
            raise TopUpInvalid(f"The minimum top-up is ${limits.topup_min_cents / 100:,.2f}.")
        if amount_cents > limits.topup_max_cents:
            raise TopUpInvalid(f"The maximum top-up is ${limits.topup_max_cents / 100:,.2f}.")
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
        TopUp.objects.filter(pk=topup.pk, status=TopUpStatus.CREATED).update(
            status=TopUpStatus.FAILED, problem=f"Checkout could not be opened: {exc}"[:255]
        )
        logger.error("checkout session create failed for %s: %s", topup.public_id, exc)
        raise
    TopUp.objects.filter(pk=topup.pk, status=TopUpStatus.CREATED).update(
        status=TopUpStatus.PENDING, stripe_session_id=session["id"]
    )
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
    retrieved from Stripe), possibly concurrently and repeatedly: the row lock plus the status check
    make every call after the first a no-op, and the ledger's unique (topup, "topup:<pk>") backs it up.
    """
    topup = _topup_locked(session=session)
    if topup is None:
        logger.warning("checkout session %s matches no top-up", session.get("id"))
        return None
    if topup.status == TopUpStatus.PAID:
        return topup
    if session.get("payment_status") != "paid":
        # Delayed payment methods: the async_payment_* event decides later.
        if topup.status == TopUpStatus.CREATED:
            topup.status = TopUpStatus.PENDING
            topup.save(update_fields=["status"])
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
    topup.status = TopUpStatus.PAID
    topup.paid_at = timezone.now()
    topup.stripe_payment_intent_id = session.get("payment_intent") or topup.stripe_payment_intent_id
    topup.problem = ""
    topup.save(update_fields=["status", "paid_at", "stripe_payment_intent_id", "problem"])
    _ledger_post(
        account_id=topup.account_id,
        amount=topup.credits,
        kind=LedgerKind.TOPUP,
        reference=f"topup:{topup.pk}",
        description=f"Top-up ${topup.amount_cents / 100:,.2f}",
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
    """Move an unpaid top-up to failed or expired (compare-and-swap); paid stays paid."""
    topup = _topup_locked(session=session)
    if topup is None:
        return None
    TopUp.objects.filter(pk=topup.pk, status__in=[TopUpStatus.CREATED, TopUpStatus.PENDING]).update(
        status=status
    )
    return topup


@transaction.atomic
def topup_fail(*, session):
    """checkout.session.async_payment_failed: the payment did not go through; no credits move."""
    return _topup_close(session=session, status=TopUpStatus.FAILED)


@transaction.atomic
def topup_expire(*, session):
    """checkout.session.expired: the user never paid."""
    return _topup_close(session=session, status=TopUpStatus.EXPIRED)


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


def _clawback_target(topup):
    """Return how many of the top-up's credits should be taken back given what Stripe told us."""
    if topup.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST):
        return topup.credits
    # The rate stored on the top-up; rounded up so a refund never leaves unpaid credits behind.
    return -(-topup.credits * topup.refunded_cents // topup.amount_cents)


def _topup_clawback_settle(*, topup):
    """Bring the credits taken back from a paid top-up to the target, with one ledger row.

    Called with the TopUp row locked. Before payment nothing was granted, so nothing moves;
    `topup_fulfil` settles afterwards. Returns the ledger row or None.
    """
    if topup.status != TopUpStatus.PAID:
        return None
    target = _clawback_target(topup)
    delta = target - topup.clawed_credits
    if delta == 0:
        return None
    if delta < 0:
        kind, reference = LedgerKind.DISPUTE_REVERSAL, f"dispute:{topup.dispute_id}:won"
        description = "Dispute won: credits restored"
    elif topup.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST):
        kind, reference = LedgerKind.DISPUTE_CLAWBACK, f"dispute:{topup.dispute_id}:{topup.dispute_status}"
        description = "Payment disputed: credits taken back"
    else:
        kind, reference = LedgerKind.REFUND_CLAWBACK, f"refund:{topup.pk}:{topup.refunded_cents}"
        description = f"Refund of ${topup.refunded_cents / 100:,.2f} (total): credits taken back"
    topup.clawed_credits = target
    topup.save(update_fields=["clawed_credits"])
    # No `only_if`: a clawback may take the balance below zero; that debt is honest and blocks spending.
    return _ledger_post(
        account_id=topup.account_id,
        amount=-delta,
        kind=kind,
        reference=reference,
        description=description,
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


# --- Stripe events --------------------------------------------------------------------------------

_EVENT_HANDLERS = {
    "checkout.session.completed": lambda obj: topup_fulfil(session=obj),
    "checkout.session.async_payment_succeeded": lambda obj: topup_fulfil(session=obj),
    "checkout.session.async_payment_failed": lambda obj: topup_fail(session=obj),
    "checkout.session.expired": lambda obj: topup_expire(session=obj),
    "charge.refunded": lambda obj: topup_refund_record(charge=obj),
    "charge.dispute.created": lambda obj: topup_dispute_open(dispute=obj),
    "charge.dispute.closed": lambda obj: topup_dispute_close(dispute=obj),
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
            handler(event["data"]["object"])
    return True


# --- Sandbox checkout (settings.STRIPE_SANDBOX only) ----------------------------------------------


def sandbox_checkout_pay(*, topup):
    """Play Stripe's part of a successful payment: record it, then deliver the signed event.

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
    return status


def sandbox_checkout_cancel(*, topup):
    """Play Stripe's part of an abandoned checkout: the session expires."""
    if topup.sandbox_paid or topup.status != TopUpStatus.PENDING:
        return None
    return stripe_gateway.sandbox_event_send(topup=topup, event_type="checkout.session.expired")
