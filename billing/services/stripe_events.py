"""Stripe's events, stored once and dispatched to the service that applies each; the sandbox's Stripe side."""

import logging

from django.db import IntegrityError, transaction

from .. import stripe_gateway
from ..models import StripeEvent, TopUp, TopUpStatus
from .payments import topup_dispute_close, topup_dispute_open, topup_refund_record
from .topups import topup_expire, topup_fail, topup_fulfil

logger = logging.getLogger("billing")


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
