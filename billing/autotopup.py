"""Automatic top-up and the low-balance e-mail: watching the balance after charges commit.

"Armed" means the balance has been at or above the threshold since the last trigger. The first
charge that leaves it below disarms it with one conditional UPDATE (a compare-and-swap on the
committed balance); only that caller enqueues the top-up (or the e-mail), however many charges
cross at once. Fulfilment re-arms once the balance is back above (services.thresholds_rearm).

The top-up itself runs in a django-q2 task: it creates the TopUp row, checks the month's ceiling,
and charges the saved card off-session with the top-up's idempotency key. Credits come from
payment_intent.succeeded (payments.topup_intent_succeeded), exactly once; a decline turns automatic
top-up off and tells the user (payments.auto_topup_decline).
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from artio.mail import mail_send
from catalog.models import CreditPack
from catalog.money import usd_cents

from . import payments, stripe_gateway
from .models import Account, TopUp, TopUpStatus
from .services import BillingError, account_for_user, month_first_moment, thresholds_rearm

logger = logging.getLogger("billing")


class AutoTopUpInvalid(BillingError):
    """Settings that cannot be saved (no saved card, unknown pack…); the message says which."""


def task_enqueue(func, *args):
    """Queue a billing task with django-q2 (tests replace this)."""
    from django_q.tasks import async_task  # imported when used: django-q2's models need the app registry

    async_task(func, *args)


def balance_watch(*, account):
    """After a charge: start the automatic top-up or the low-balance e-mail if this charge crossed.

    `account` is as the caller read it before the charge; an account that uses neither costs no
    statement. Call after the charge's transaction (inside an outer one, the task is queued on commit).
    """
    if account.pk is None or not (account.auto_topup_enabled or account.low_balance_alert_at is not None):
        return
    accounts = Account.objects.filter(pk=account.pk)
    if not (account.auto_topup_armed and account.low_balance_armed):
        # Something other than a top-up (a refund, a monthly grant) may have lifted the balance.
        thresholds_rearm(account_id=account.pk)
    if account.auto_topup_enabled:
        crossed = accounts.filter(
            auto_topup_enabled=True, auto_topup_armed=True, balance__lt=F("auto_topup_threshold")
        ).update(auto_topup_armed=False, auto_topup_last_at=timezone.now())
        if crossed:
            transaction.on_commit(lambda: task_enqueue("billing.tasks.auto_topup_run", account.pk))
    if account.low_balance_alert_at is not None:
        crossed = accounts.filter(low_balance_armed=True, balance__lt=F("low_balance_alert_at")).update(
            low_balance_armed=False
        )
        if crossed:
            transaction.on_commit(lambda: task_enqueue("billing.tasks.low_balance_mail_send", account.pk))


def auto_topup_spent_cents(*, account_id, now=None):
    """Return the cents of automatic top-ups bought or under way this calendar month (UTC)."""
    total = TopUp.objects.filter(
        account_id=account_id,
        automatic=True,
        created_at__gte=month_first_moment(now),
        status__in=[TopUpStatus.CREATED, TopUpStatus.PENDING, TopUpStatus.PAID],
    ).aggregate(total=Sum("amount_cents"))["total"]
    return total or 0


def _auto_topup_prepare(*, account_id):
    """Return the TopUp to charge for the account's latest crossing, creating it once, or None.

    Under the account's row lock: a re-delivered task finds the crossing's TopUp and charges only
    if it never reached Stripe (the same idempotency key makes that safe); the ceiling is checked
    before any new TopUp.
    """
    with transaction.atomic():
        account = (
            Account.objects.select_for_update(of=("self",))
            .select_related("auto_topup_pack")
            .get(pk=account_id)
        )
        crossing = TopUp.objects.filter(
            account_id=account_id,
            automatic=True,
            created_at__gte=account.auto_topup_last_at or timezone.now(),
        ).first()
        if crossing is not None:
            resend = crossing.status == TopUpStatus.PENDING and not crossing.stripe_payment_intent_id
            return (crossing, account) if resend else (None, account)
        if not account.auto_topup_enabled or account.auto_topup_armed or account.frozen:
            return None, account
        pack = account.auto_topup_pack
        if pack is None or not pack.is_active or not account.stripe_payment_method_id:
            Account.objects.filter(pk=account_id).update(
                auto_topup_enabled=False,
                auto_topup_stopped_reason="The chosen pack is no longer on sale, or no card is saved.",
            )
            return None, account
        if account.balance >= account.auto_topup_threshold:
            thresholds_rearm(account_id=account_id)  # lifted meanwhile (a refund): nothing to buy
            return None, account
        spent = auto_topup_spent_cents(account_id=account_id)
        if spent + pack.price_cents > account.auto_topup_monthly_limit_cents:
            Account.objects.filter(pk=account_id).update(
                auto_topup_stopped_reason=(
                    f"This month's limit ({usd_cents(account.auto_topup_monthly_limit_cents)}) "
                    "is reached; automatic top-up resumes next month."
                )
            )
            return None, account
        return payments.auto_topup_create(account=account, pack=pack), account


def auto_topup_charge(*, account_id):
    """Buy the account's automatic top-up pack with its saved card, off-session; return the TopUp.

    The task's body. Stripe is called outside any transaction or lock.
    """
    topup, account = _auto_topup_prepare(account_id=account_id)
    if topup is None:
        return None
    try:
        intent = stripe_gateway.payment_intent_off_session(
            topup=topup,
            customer_id=account.stripe_customer_id,
            payment_method_id=account.stripe_payment_method_id,
        )
    except stripe_gateway.CardDeclined as exc:
        return payments.auto_topup_decline(
            topup=topup, code=exc.code, message=str(exc), payment_intent_id=exc.payment_intent_id
        )
    # GatewayError propagates: the TopUp stays pending without an intent, and the retried task
    # sends the same request again under the same idempotency key.
    payments.auto_topup_intent_record(topup=topup, payment_intent_id=intent["id"])
    if intent.get("status") == "succeeded":
        # The webhook's payment_intent.succeeded does the same; whichever comes first credits.
        payments.topup_intent_succeeded(intent=intent)
    logger.info("automatic top-up %s charged: %s", topup.public_id, intent.get("status"))
    topup.refresh_from_db()
    return topup


def auto_topup_configure(*, user, enabled, threshold, pack_id, monthly_limit_cents):
    """Save the user's automatic top-up settings; turning it on needs a saved card and a pack on sale."""
    account = account_for_user(user=user)
    fields = {"auto_topup_enabled": bool(enabled), "auto_topup_stopped_reason": ""}
    if enabled:
        if not account.stripe_payment_method_id:
            raise AutoTopUpInvalid("Save a card first: tick “save this card” on your next top-up.")
        pack = CreditPack.objects.filter(pk=pack_id, is_active=True).first() if pack_id else None
        if pack is None:
            raise AutoTopUpInvalid("Choose a credit pack on sale.")
        if monthly_limit_cents < pack.price_cents:
            raise AutoTopUpInvalid("The monthly limit must allow at least one of the chosen pack.")
        fields.update(
            auto_topup_threshold=threshold,
            auto_topup_pack=pack,
            auto_topup_monthly_limit_cents=monthly_limit_cents,
            # Armed only while the balance is above: turning it on below the threshold waits for
            # a crossing rather than buying at once.
            auto_topup_armed=account.balance >= threshold,
        )
    Account.objects.filter(pk=account.pk).update(**fields)
    account.refresh_from_db()
    return account


def low_balance_alert_set(*, user, threshold):
    """Set (or, with None, clear) the balance below which the user is e-mailed, once per crossing."""
    account = account_for_user(user=user)
    armed = threshold is None or account.balance >= threshold
    Account.objects.filter(pk=account.pk).update(low_balance_alert_at=threshold, low_balance_armed=armed)
    account.refresh_from_db()
    return account


def card_forget(*, user):
    """Forget the saved card (Stripe keeps it on the Customer) and turn automatic top-up off."""
    account = account_for_user(user=user)
    Account.objects.filter(pk=account.pk).update(stripe_payment_method_id="", auto_topup_enabled=False)


def low_balance_mail_send(*, account_id):
    """E-mail the user that the balance fell below their alert threshold."""
    account = Account.objects.select_related("user").get(pk=account_id)
    if account.low_balance_alert_at is None:
        return False
    mail_send(
        to=[account.user.email],
        subject="Your Artio balance is low",
        name="low_balance",
        context={
            "balance": f"{account.balance:,}",
            "threshold": f"{account.low_balance_alert_at:,}",
            "action_url": f"{settings.ARTIO_PUBLIC_URL}/billing/",
            "action_label": "Top up",
        },
    )
    return True
