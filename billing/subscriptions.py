"""Subscriptions: paid monthly plans through Stripe Checkout (mode=subscription), their events, the
monthly credits each paid invoice grants, and the plan an account ends up on.

Stripe delivers `checkout.session.completed`, `invoice.paid`, `invoice.payment_failed` and
`customer.subscription.created/updated/deleted` twice, late and in any order. So:

- A Subscription row keeps the newest state Stripe told us, ordered by (current period end, the
  event's `created`); an older snapshot never overwrites a newer one, and `canceled` is final.
- A SubscriptionInvoice row moves open → failed → paid by compare-and-swap; only the move to paid
  grants, with one `subscription_grant` ledger row keyed by the invoice id.
- The account's plan is never stored as news: `account_plan_refresh` derives it from every
  subscription's state (Premium while active or trialing, or past due within the grace period),
  never below Standard once the account has paid.

Locking order: the Account row first (select_for_update), then its Subscription and invoice rows.
Top-ups lock a TopUp then the Account and never a subscription row, so the two cannot deadlock.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from artio.mail import mail_send
from catalog.models import Plan
from catalog.money import usd_cents

from . import stripe_gateway
from .models import (
    Account,
    DisputeStatus,
    FrozenCause,
    InvoiceStatus,
    LedgerKind,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
    SubscriptionStatus,
    TopUp,
)
from .services import (
    AccountFrozen,
    BillingError,
    account_for_user,
    account_freeze,
    account_unfreeze,
    clawback_settle,
    ledger_post_once,
)

logger = logging.getLogger("billing")

# Statuses that keep the plan's tier; PAST_DUE keeps it only within the grace period.
_GRANTING = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
# A subscription in one of these is current: a second one for the same account is refused.
_LIVE = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE}
# Invoices that pay for a month of the plan; a proration (subscription_update) grants nothing.
_GRANT_REASONS = {"subscription_create", "subscription_cycle"}


class SubscriptionInvalid(BillingError):
    code, http_status = "subscription_invalid", 400


class InvoiceNotYetKnown(Exception):
    """A refund or dispute of an invoice whose payment we have not recorded yet; Stripe retries."""


# --- Reading Stripe's objects (API 2025-03-31 on: invoices name their subscription via `parent`) ----


def _ts(value):
    return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC) if value else None


def _epoch(dt):
    return int(dt.timestamp()) if dt else 0


def _sub_period(sub):
    """Return (start, end) of the subscription's current period (on its items since 2025-03-31)."""
    items = ((sub.get("items") or {}).get("data")) or []
    first = items[0] if items else {}
    start = first.get("current_period_start") or sub.get("current_period_start")
    end = first.get("current_period_end") or sub.get("current_period_end")
    return start, end


def _sub_price_ids(sub):
    items = ((sub.get("items") or {}).get("data")) or []
    return [((item.get("price") or {}).get("id")) for item in items]


def _invoice_subscription(invoice):
    """Return (subscription id, its metadata) of an invoice, from either API shape."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    sub_id = details.get("subscription") or invoice.get("subscription")
    return sub_id, details.get("metadata") or {}


def _invoice_lines(invoice):
    return ((invoice.get("lines") or {}).get("data")) or []


def _invoice_period(invoice):
    """Return (start, end) the invoice pays for: its lines' period, not its own (the previous one)."""
    periods = [line.get("period") or {} for line in _invoice_lines(invoice)]
    starts = [p["start"] for p in periods if p.get("start")]
    ends = [p["end"] for p in periods if p.get("end")]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _invoice_price_ids(invoice):
    ids = []
    for line in _invoice_lines(invoice):
        details = (line.get("pricing") or {}).get("price_details") or {}
        ids.append(details.get("price") or (line.get("price") or {}).get("id"))
    return ids


def _invoice_payment_intent(invoice):
    for row in ((invoice.get("payments") or {}).get("data")) or []:
        intent = (row.get("payment") or {}).get("payment_intent")
        if intent:
            return intent
    return ""


def _plan_for(*, price_ids, slug=""):
    """Return the SubscriptionPlan for one of Stripe's Price ids, else the one named in our metadata."""
    plans = list(SubscriptionPlan.objects.all())
    for price_id in filter(None, price_ids):
        for plan in plans:
            if plan.price_id == price_id:
                return plan
    return next((plan for plan in plans if slug and plan.slug == slug), None)


def _account_locked(*, customer_id, metadata):
    """Return the row-locked Account an object is about (by our Customer, else our metadata), or None."""
    accounts = Account.objects.select_for_update()
    account = accounts.filter(stripe_customer_id=customer_id).first() if customer_id else None
    if account is None:
        account_id = str(metadata.get("account_id") or "")
        account = accounts.filter(pk=int(account_id)).first() if account_id.isdigit() else None
        if account is not None and customer_id:
            if account.stripe_customer_id and account.stripe_customer_id != customer_id:
                logger.error("customer %s does not belong to account %s", customer_id, account.pk)
                return None
            Account.objects.filter(pk=account.pk, stripe_customer_id__isnull=True).update(
                stripe_customer_id=customer_id
            )
    return account


def _subscription_locked(*, account, sub_id, plan):
    """Return the row-locked Subscription `sub_id` of `account`, created on first news of it."""
    sub = (
        Subscription.objects.select_for_update().select_related("plan").filter(stripe_subscription_id=sub_id)
    )
    sub = sub.first()
    if sub is None:
        if plan is None:
            logger.error("subscription %s names no plan we sell", sub_id)
            return None
        sub, _ = Subscription.objects.get_or_create(
            stripe_subscription_id=sub_id, defaults={"account": account, "plan": plan}
        )
        sub = Subscription.objects.select_for_update().select_related("plan").get(pk=sub.pk)
    if sub.account_id != account.pk:
        logger.error("subscription %s belongs to account %s, not %s", sub_id, sub.account_id, account.pk)
        return None
    return sub


def _snapshot_apply(sub, *, status, period_start, period_end, at, cancel_at_period_end=None, plan=None):
    """Store Stripe's news of `sub` unless we already hold newer; return True when it was applied.

    Newer means a later period, or the same period from a later event. `canceled` is final.
    """
    if sub.status == SubscriptionStatus.CANCELED:
        return False
    older = (int(period_end or 0), at) < (_epoch(sub.current_period_end), sub.state_at)
    if status != SubscriptionStatus.CANCELED and older:
        return False
    if status == SubscriptionStatus.PAST_DUE:
        if sub.status != SubscriptionStatus.PAST_DUE or sub.past_due_since is None:
            sub.past_due_since = _ts(at) or timezone.now()
    else:
        sub.past_due_since = None
    sub.status = status
    if period_end:
        sub.current_period_start, sub.current_period_end = _ts(period_start), _ts(period_end)
    if cancel_at_period_end is not None:
        sub.cancel_at_period_end = bool(cancel_at_period_end)
    if plan is not None:
        sub.plan = plan
    sub.state_at = max(sub.state_at, at)
    sub.save()
    return True


# --- The account's plan -------------------------------------------------------------------------


def grace_period():
    return datetime.timedelta(days=settings.ARTIO_PAST_DUE_GRACE_DAYS)


def subscription_grants_tier(sub, *, now=None):
    """Return the tier `sub` gives its account right now, or None."""
    now = now or timezone.now()
    if sub.status in _GRANTING:
        return sub.plan.tier
    if (
        sub.status == SubscriptionStatus.PAST_DUE
        and sub.past_due_since
        and now < sub.past_due_since + grace_period()
    ):
        return sub.plan.tier
    return None


def account_plan_refresh(*, account_id, now=None):
    """Set the account's plan from its subscriptions' state; return the plan.

    Premium (the plan's tier) while a subscription grants it; otherwise Standard once the account
    has paid anything, Free before. Takes the Account row lock, so concurrent refreshes agree.
    """
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        tiers = [
            tier
            for sub in Subscription.objects.filter(account_id=account_id).select_related("plan")
            if (tier := subscription_grants_tier(sub, now=now))
        ]
        paid = (
            account.plan != Plan.FREE
            or tiers
            or SubscriptionInvoice.objects.filter(account_id=account_id, status=InvoiceStatus.PAID).exists()
        )
        plan = max([*tiers, Plan.STANDARD if paid else Plan.FREE], key=Plan.rank)
        if plan != account.plan:
            Account.objects.filter(pk=account_id).update(plan=plan)
            logger.info("account %s plan %s → %s", account_id, account.plan, plan)
        return plan


def subscription_grace_sweep(*, now=None):
    """Refresh the plan of every account a subscription may have stopped granting (grace over, canceled).

    Grace runs out with no event from Stripe, so a schedule calls this; return how many changed.
    """
    changed = 0
    paid_tiers = [tier for tier in Plan.values if Plan.rank(tier) > Plan.rank(Plan.STANDARD)]
    ids = Account.objects.filter(plan__in=paid_tiers, subscriptions__isnull=False).values_list(
        "id", flat=True
    )
    for account_id in set(ids):
        before = Account.objects.values_list("plan", flat=True).get(pk=account_id)
        if account_plan_refresh(account_id=account_id, now=now) != before:
            changed += 1
    return changed


# --- Subscribing and managing -----------------------------------------------------------------------


def plans_for_sale():
    return list(SubscriptionPlan.objects.filter(is_active=True))


def customer_ensure(*, account, email):
    """Return the account's Stripe Customer id, creating the Customer once."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer_id = stripe_gateway.customer_create(account=account, email=email)
    Account.objects.filter(pk=account.pk, stripe_customer_id__isnull=True).update(
        stripe_customer_id=customer_id
    )
    account.refresh_from_db(fields=["stripe_customer_id"])
    return account.stripe_customer_id


def subscription_checkout_start(*, user, plan_slug, success_url, cancel_url):
    """Open Stripe Checkout (mode=subscription) for the plan; return the URL to send the user to."""
    plan = SubscriptionPlan.objects.filter(slug=plan_slug, is_active=True).first()
    if plan is None:
        raise SubscriptionInvalid("That plan is not on sale.")
    account = account_for_user(user=user)
    if account.frozen:
        raise AccountFrozen(reason=account.frozen_reason)
    if Subscription.objects.filter(account=account, status__in=_LIVE).exists():
        raise SubscriptionInvalid("You already have a subscription; manage it from the billing page.")
    price_id = plan.price_id
    if not price_id and not stripe_gateway.is_sandbox():
        raise SubscriptionInvalid(f"{plan.name} cannot be bought yet (no Stripe Price is set).")
    customer_id = customer_ensure(account=account, email=user.email)
    session = stripe_gateway.subscription_checkout_create(
        account=account,
        plan=plan,
        price_id=price_id,
        customer_id=customer_id,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session["url"]


def portal_url(*, user, return_url):
    """Return a Customer Portal URL for the user's Stripe Customer."""
    account = account_for_user(user=user)
    if not account.stripe_customer_id:
        raise SubscriptionInvalid("You have no subscription to manage.")
    return stripe_gateway.portal_session_create(customer_id=account.stripe_customer_id, return_url=return_url)


# --- Stripe's events ---------------------------------------------------------------------------------


@transaction.atomic
def checkout_completed(*, session, event):
    """checkout.session.completed (mode=subscription): link the subscription; invoice.paid grants."""
    metadata = session.get("metadata") or {}
    account = _account_locked(customer_id=session.get("customer"), metadata=metadata)
    sub_id = session.get("subscription")
    if account is None or not sub_id:
        logger.warning("subscription checkout %s matches no account", session.get("id"))
        return None
    sub = _subscription_locked(
        account=account, sub_id=sub_id, plan=_plan_for(price_ids=[], slug=metadata.get("plan"))
    )
    if sub is not None:
        account_plan_refresh(account_id=account.pk)
    return sub


@transaction.atomic
def subscription_changed(*, subscription, event):
    """customer.subscription.created / updated / deleted: keep the newest state, then the plan."""
    metadata = subscription.get("metadata") or {}
    account = _account_locked(customer_id=subscription.get("customer"), metadata=metadata)
    if account is None:
        logger.warning("subscription %s matches no account", subscription.get("id"))
        return None
    plan = _plan_for(price_ids=_sub_price_ids(subscription), slug=metadata.get("plan"))
    sub = _subscription_locked(account=account, sub_id=subscription["id"], plan=plan)
    if sub is None:
        return None
    status = subscription.get("status")
    if event.get("type") == "customer.subscription.deleted":
        status = SubscriptionStatus.CANCELED
    if status not in SubscriptionStatus.values:
        logger.warning("subscription %s has unknown status %s", sub.stripe_subscription_id, status)
        return sub
    start, end = _sub_period(subscription)
    _snapshot_apply(
        sub,
        status=status,
        period_start=start,
        period_end=end,
        at=int(event.get("created") or 0),
        cancel_at_period_end=subscription.get("cancel_at_period_end"),
        plan=plan,
    )
    account_plan_refresh(account_id=account.pk)
    return sub


def _invoice_context(invoice):
    """Return (account, subscription, plan) of an invoice, all row-locked, or (None, None, None)."""
    sub_id, metadata = _invoice_subscription(invoice)
    if not sub_id:
        return None, None, None  # not a subscription's invoice
    account = _account_locked(customer_id=invoice.get("customer"), metadata=metadata)
    if account is None:
        logger.warning("invoice %s matches no account", invoice.get("id"))
        return None, None, None
    plan = _plan_for(price_ids=_invoice_price_ids(invoice), slug=metadata.get("plan"))
    sub = _subscription_locked(account=account, sub_id=sub_id, plan=plan)
    return (account, sub, plan) if sub is not None else (None, None, None)


def _invoice_row_locked(*, invoice, account, sub):
    row, _ = SubscriptionInvoice.objects.get_or_create(
        stripe_invoice_id=invoice["id"], defaults={"account": account, "subscription": sub}
    )
    return SubscriptionInvoice.objects.select_for_update().get(pk=row.pk)


def _invoice_move(row, *, from_, to, **fields):
    moved = SubscriptionInvoice.objects.filter(pk=row.pk, status__in=from_).update(status=to, **fields)
    if moved:
        row.status = to
        for name, value in fields.items():
            setattr(row, name, value)
    return bool(moved)


@transaction.atomic
def invoice_paid(*, invoice, event):
    """invoice.paid (first month and every renewal): grant the month's credits once per invoice."""
    if invoice.get("status") != "paid":
        logger.warning(
            "invoice.paid for invoice %s in status %s: ignored", invoice.get("id"), invoice.get("status")
        )
        return None
    account, sub, plan = _invoice_context(invoice)
    if sub is None:
        return None
    row = _invoice_row_locked(invoice=invoice, account=account, sub=sub)
    start, end = _invoice_period(invoice)
    reason = invoice.get("billing_reason") or ""
    amount = int(invoice.get("amount_paid") or 0)
    grants = reason in _GRANT_REASONS and amount > 0
    credits = (plan or sub.plan).monthly_credits if grants else 0
    paid = _invoice_move(
        row,
        from_=[InvoiceStatus.OPEN, InvoiceStatus.FAILED],
        to=InvoiceStatus.PAID,
        billing_reason=reason,
        amount_cents=amount,
        currency=str(invoice.get("currency") or "usd").lower(),
        credits=credits,
        period_start=_ts(start),
        period_end=_ts(end),
        stripe_payment_intent_id=_invoice_payment_intent(invoice) or row.stripe_payment_intent_id,
        hosted_invoice_url=invoice.get("hosted_invoice_url") or "",
        invoice_pdf=invoice.get("invoice_pdf") or "",
        paid_at=timezone.now(),
    )
    if paid and credits:
        ledger_post_once(
            account_id=account.pk,
            amount=credits,
            kind=LedgerKind.SUBSCRIPTION_GRANT,
            reference=invoice["id"],
            description=f"{sub.plan.name}: credits for the month ({usd_cents(amount)})",
        )
        # A refund or dispute may have come first (Stripe does not order its events).
        _invoice_clawback_settle(row=row)
    # Paying for the current period (or a later one) makes the subscription active.
    _snapshot_apply(
        sub,
        status=SubscriptionStatus.ACTIVE,
        period_start=start,
        period_end=end,
        at=int(event.get("created") or 0),
    )
    account_plan_refresh(account_id=account.pk)
    return row


@transaction.atomic
def invoice_payment_failed(*, invoice, event):
    """invoice.payment_failed: a renewal failed; the subscription is past due, the user is told once."""
    account, sub, _ = _invoice_context(invoice)
    if sub is None:
        return None
    row = _invoice_row_locked(invoice=invoice, account=account, sub=sub)
    if row.status == InvoiceStatus.PAID:
        return row  # the retry succeeded and we heard of it first
    start, end = _invoice_period(invoice)
    reason = invoice.get("billing_reason") or ""
    first_failure = _invoice_move(
        row,
        from_=[InvoiceStatus.OPEN],
        to=InvoiceStatus.FAILED,
        billing_reason=reason,
        amount_cents=int(invoice.get("amount_due") or 0),
        currency=str(invoice.get("currency") or "usd").lower(),
        period_start=_ts(start),
        period_end=_ts(end),
        hosted_invoice_url=invoice.get("hosted_invoice_url") or "",
    )
    if reason == "subscription_create":
        return row  # a first payment that failed: Checkout shows it; nothing was ever granted
    _snapshot_apply(
        sub,
        status=SubscriptionStatus.PAST_DUE,
        period_start=start,
        period_end=end,
        at=int(event.get("created") or 0),
    )
    account_plan_refresh(account_id=account.pk)
    if first_failure:
        email = account.user.email
        deadline = (sub.past_due_since or timezone.now()) + grace_period()
        # After commit, and robust: a mail server that fails must not undo (or re-run) the event.
        transaction.on_commit(
            lambda: _past_due_mail(email=email, plan=sub.plan, deadline=deadline, row=row), robust=True
        )
    return row


def _past_due_mail(*, email, plan, deadline, row):
    mail_send(
        to=[email],
        subject=f"Your {plan.name} renewal payment failed",
        name="renewal_failed",
        context={
            "plan": plan.name,
            "amount": usd_cents(row.amount_cents),
            "deadline": f"{deadline:%B %-d, %Y %H:%M}",
            "action_url": f"{settings.ARTIO_PUBLIC_URL}/billing/",
            "action_label": "Update your card",
        },
    )


# --- Refunds and disputes of subscription invoices ------------------------------------------------


def _invoice_for_payment_locked(*, payment_intent_id, charge_id):
    """Return the row-locked invoice a charge or dispute is about (Account locked first), or None."""
    rows = SubscriptionInvoice.objects.all()
    row = rows.filter(stripe_payment_intent_id=payment_intent_id).first() if payment_intent_id else None
    if row is None and charge_id:
        row = rows.filter(stripe_charge_id=charge_id).first()
    if row is None:
        return None
    Account.objects.select_for_update().get(pk=row.account_id)
    row = SubscriptionInvoice.objects.select_for_update().select_related("subscription__plan").get(pk=row.pk)
    if charge_id and not row.stripe_charge_id:
        row.stripe_charge_id = charge_id
        row.save(update_fields=["stripe_charge_id"])
    return row


INVOICE_CLAWBACK_TEXTS = {
    "won": "Dispute won: plan credits restored",
    "disputed": "Plan payment disputed: its credits taken back",
    "refunded": "Plan payment refunded ({amount} in total): credits taken back",
}


def _invoice_clawback_settle(*, row):
    """Bring the credits taken back from a paid invoice to what its refunds and dispute imply."""
    if row.status != InvoiceStatus.PAID or not row.credits:
        return None
    return clawback_settle(
        payment=row, credits=row.credits, refund_reference=row.stripe_invoice_id, texts=INVOICE_CLAWBACK_TEXTS
    )


def invoice_pending_check(*, payment_intent_id):
    """Raise InvoiceNotYetKnown when Stripe says the payment paid an invoice we have not recorded."""
    invoice_id = stripe_gateway.invoice_for_payment_intent(payment_intent_id=payment_intent_id)
    if (
        invoice_id
        and not SubscriptionInvoice.objects.filter(
            stripe_invoice_id=invoice_id, status=InvoiceStatus.PAID
        ).exists()
    ):
        raise InvoiceNotYetKnown(f"{payment_intent_id} paid invoice {invoice_id}, not recorded yet")


@transaction.atomic
def invoice_refund_record(*, charge):
    """charge.refunded of a subscription invoice: claw back credits for the refunded share, once."""
    row = _invoice_for_payment_locked(
        payment_intent_id=charge.get("payment_intent"), charge_id=charge.get("id")
    )
    if row is None:
        return None
    cumulative = min(int(charge.get("amount_refunded") or 0), row.amount_cents)
    if cumulative > row.refunded_cents:
        row.refunded_cents = cumulative
        row.save(update_fields=["refunded_cents"])
        _invoice_clawback_settle(row=row)
    return row


@transaction.atomic
def invoice_dispute_record(*, dispute, closed):
    """charge.dispute.created / closed of a subscription invoice: claw back, or restore when won."""
    row = _invoice_for_payment_locked(
        payment_intent_id=dispute.get("payment_intent"), charge_id=dispute.get("charge")
    )
    if row is None:
        return None
    if closed:
        outcome = {
            "won": DisputeStatus.WON,
            "warning_closed": DisputeStatus.WON,
            "lost": DisputeStatus.LOST,
        }.get(dispute.get("status"))
        if outcome is None or row.dispute_status in (DisputeStatus.WON, DisputeStatus.LOST):
            return row
    else:
        if row.dispute_id == dispute["id"] and row.dispute_status:
            return row
        outcome = DisputeStatus.OPEN
    row.dispute_id, row.dispute_status = dispute["id"], outcome
    row.save(update_fields=["dispute_id", "dispute_status"])
    _invoice_clawback_settle(row=row)
    # As for a top-up: a disputed payment freezes the account until the dispute is won.
    if outcome in (DisputeStatus.OPEN, DisputeStatus.LOST):
        account_freeze(
            account_id=row.account_id, reason=f"Payment disputed ({dispute['id']})", cause=FrozenCause.DISPUTE
        )
    elif not (
        SubscriptionInvoice.objects.filter(
            account_id=row.account_id, dispute_status=DisputeStatus.OPEN
        ).exists()
        or TopUp.objects.filter(account_id=row.account_id, dispute_status=DisputeStatus.OPEN).exists()
    ):
        account_unfreeze(
            account_id=row.account_id, reason=f"Dispute {dispute['id']} won", only_cause=FrozenCause.DISPUTE
        )
    logger.error("dispute %s on invoice %s: %s", dispute["id"], row.stripe_invoice_id, outcome)
    return row


# --- Sandbox: Stripe's side of subscriptions, simulated (settings.STRIPE_SANDBOX only) ------------

_MONTH = 30 * 24 * 3600


def subscription_current(*, account):
    """Return the account's live subscription, else its most recent one, else None."""
    if account.pk is None:
        return None
    subs = Subscription.objects.filter(account=account).select_related("plan").order_by("-id")
    return subs.filter(status__in=_LIVE).first() or subs.first()


def _sandbox_send(events):
    """Deliver (type, object) pairs, in order, as signed events to the real webhook; return the statuses."""
    return [stripe_gateway.sandbox_event_post(event_type=type_, obj=obj) for type_, obj in events]


def sandbox_subscribe_pay(*, user, plan_slug):
    """Play Stripe's part of a paid subscription checkout: subscription, first invoice, session."""
    plan = SubscriptionPlan.objects.filter(slug=plan_slug, is_active=True).first()
    if plan is None:
        raise SubscriptionInvalid("That plan is not on sale.")
    account = account_for_user(user=user)
    if Subscription.objects.filter(account=account, status__in=_LIVE).exists():
        raise SubscriptionInvalid("You already have a subscription.")
    customer_ensure(account=account, email=user.email)
    now = int(timezone.now().timestamp())
    period = (now, now + _MONTH)
    sub_id = f"sub_sandbox_{account.pk}_{now}"
    sub = stripe_gateway.sandbox_subscription(
        sub_id=sub_id, account=account, plan=plan, status="active", period=period
    )
    invoice = stripe_gateway.sandbox_invoice(
        invoice_id=f"in_{sub_id}_1", sub_id=sub_id, account=account, plan=plan, paid=True,
        billing_reason="subscription_create", period=period,
    )  # fmt: skip
    session = {
        "id": f"{stripe_gateway.SANDBOX_SESSION_PREFIX}{sub_id}",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": account.stripe_customer_id,
        "subscription": sub_id,
        "invoice": invoice["id"],
        "client_reference_id": str(user.pk),
        "metadata": {"account_id": str(account.pk), "plan": plan.slug},
    }
    return _sandbox_send(
        [
            ("customer.subscription.created", sub),
            ("invoice.paid", invoice),
            ("checkout.session.completed", session),
        ]
    )


SANDBOX_PORTAL_ACTIONS = {
    "renew": "Renew now (the card is charged)",
    "fail": "Renew now, and the card is declined",
    "cancel": "Cancel at the end of the period",
    "reactivate": "Keep the subscription (undo cancel)",
    "end": "End the subscription now (the period is over)",
}


def sandbox_portal_act(*, user, action):
    """Play Stripe's part of a portal action or a renewal on the user's live subscription."""
    if action not in SANDBOX_PORTAL_ACTIONS:
        raise SubscriptionInvalid("Unknown action.")
    account = account_for_user(user=user)
    sub = subscription_current(account=account)
    if sub is None or sub.status not in _LIVE:
        raise SubscriptionInvalid("You have no live subscription.")
    start, end = _epoch(sub.current_period_start), _epoch(sub.current_period_end)
    args = {"sub_id": sub.stripe_subscription_id, "account": account, "plan": sub.plan}
    state = {"status": sub.status, "period": (start, end), "cancel_at_period_end": sub.cancel_at_period_end}
    events = []
    if action in ("renew", "fail"):
        failed = sub.invoices.filter(status=InvoiceStatus.FAILED).order_by("-id").first()
        if action == "renew" and failed is not None:
            # Stripe's retry of the failed renewal succeeds: the same invoice, now paid.
            invoice_id, period = (
                failed.stripe_invoice_id,
                (_epoch(failed.period_start), _epoch(failed.period_end)),
            )
        else:
            invoice_id, period = (
                f"in_{sub.stripe_subscription_id}_{sub.invoices.count() + 1}",
                (end, end + _MONTH),
            )
        paid = action == "renew"
        invoice = stripe_gateway.sandbox_invoice(
            invoice_id=invoice_id, paid=paid, billing_reason="subscription_cycle", period=period, **args
        )
        state.update(status="active" if paid else "past_due", period=period)
        events.append(("invoice.paid" if paid else "invoice.payment_failed", invoice))
        events.append(("customer.subscription.updated", stripe_gateway.sandbox_subscription(**args, **state)))
    elif action in ("cancel", "reactivate"):
        state["cancel_at_period_end"] = action == "cancel"
        events.append(("customer.subscription.updated", stripe_gateway.sandbox_subscription(**args, **state)))
    else:
        state["status"] = "canceled"
        events.append(("customer.subscription.deleted", stripe_gateway.sandbox_subscription(**args, **state)))
    return _sandbox_send(events)
