"""Refunds and disputes of paid top-ups: credits taken back, frozen accounts, won disputes restored.

Order-independent: the TopUp keeps what Stripe told us cumulatively (`refunded_cents`, the dispute
state), and `_topup_clawback_settle` moves `clawed_credits` to the target that implies, so a replay,
a late older event or an event before payment all end in the same balance. Every handler holds the
TopUp row lock (taken before the Account's, as in topups.py).
"""

import logging

from django.db import transaction

from .. import stripe_gateway
from ..models import DisputeStatus, FrozenCause, LedgerKind, TopUp, TopUpStatus
from ..money import usd
from .accounts import _ledger_post, account_freeze, account_unfreeze

logger = logging.getLogger("billing")


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
        description = f"Refund of {usd(topup.refunded_cents)} (total): credits taken back"
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
