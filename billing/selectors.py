"""Reads of accounts, the ledger and top-ups. Owner-scoped lookups raise Http404 for anyone else's."""

from decimal import Decimal

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from artio.models import ApiKey
from catalog.models import CatalogSettings, CreditPack
from catalog.money import usd_cents, usd_unit

from .models import (
    Account,
    KeySpend,
    LedgerEntry,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
    SubscriptionStatus,
    TopUp,
)
from .services import month_start


def account_get(*, user):
    """Return the user's account, or an unsaved empty one before it exists (reads never create)."""
    return Account.objects.filter(user=user).first() or Account(user=user)


def ledger_for_account(*, account):
    """Return the account's ledger, newest first, with the top-ups the rows link to (none before
    the account exists)."""
    if account.pk is None:
        return LedgerEntry.objects.none()
    return LedgerEntry.objects.filter(account=account).select_related("topup").order_by("-id")


def topups_for_account(*, account):
    if account.pk is None:
        return TopUp.objects.none()
    return TopUp.objects.filter(account=account).order_by("-id")


def topup_get_for_owner(*, user, public_id):
    return get_object_or_404(TopUp.objects.select_related("account"), public_id=public_id, account__user=user)


def topup_get_by_session_for_owner(*, user, session_id):
    return get_object_or_404(
        TopUp.objects.select_related("account"), stripe_session_id=session_id, account__user=user
    )


def subscription_live_for_account(*, account):
    """Return the account's subscription that is active, trialing or past due, or None."""
    if account.pk is None:
        return None
    live = [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE]
    return Subscription.objects.filter(account=account, status__in=live).order_by("-id").first()


def subscription_plan_for_sale(*, slug):
    return SubscriptionPlan.objects.filter(slug=slug, is_active=True).first()


def subscription_invoices_for_account(*, account):
    """Return the account's subscription invoices, newest first (none before the account exists)."""
    if account.pk is None:
        return SubscriptionInvoice.objects.none()
    return (
        SubscriptionInvoice.objects.filter(account=account)
        .select_related("subscription__plan")
        .order_by("-id")
    )


def account_nav_for_user(*, user_id):
    """Return (balance, name of the plan whose renewal is failing or None) in one query, or None
    before the account exists: what every page's navigation and banner show."""
    failing = Subscription.objects.filter(account=OuterRef("pk"), status=SubscriptionStatus.PAST_DUE)
    return (
        Account.objects.filter(user_id=user_id)
        .annotate(past_due_plan=Subquery(failing.values("plan__name")[:1]))
        .values_list("balance", "past_due_plan")
        .first()
    )


def key_spent_this_month(*, api_key_id):
    """Return the credits spent through the API key this calendar month (UTC)."""
    return (
        KeySpend.objects.filter(api_key_id=api_key_id, month=month_start())
        .values_list("credits", flat=True)
        .first()
        or 0
    )


def key_spends_for_user(*, user):
    """Return the user's active API keys, each with `spent` this calendar month (UTC)."""
    spent = KeySpend.objects.filter(api_key=OuterRef("pk"), month=month_start()).values("credits")[:1]
    keys = ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at", "-id")
    return list(keys.annotate(spent=Coalesce(Subquery(spent), 0)))


def credit_packs_for_sale():
    """Return active packs, each with `price_display`, `per_credit_display` and `bonus_percent`
    over the base rate."""
    base_cents = CatalogSettings.load().usd_per_credit * 100
    packs = list(CreditPack.objects.filter(is_active=True).order_by("sort_order", "price_cents"))
    for pack in packs:
        pack.price_display = usd_cents(pack.price_cents)
        pack.per_credit_display = usd_unit(Decimal(pack.price_cents) / 100 / pack.credits)
        base_credits = Decimal(pack.price_cents) / base_cents
        pack.bonus_percent = int((Decimal(pack.credits) / base_credits - 1) * 100) if base_credits else 0
    return packs


def ledger_audit():
    """Check every account: balance == SUM(ledger), and each row's balance_after continues the last.

    Return a list of human-readable problems (empty when the ledger is sound).
    """
    problems = []
    sums = dict(
        LedgerEntry.objects.values("account_id")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("account_id", "total")
    )
    for account_id, balance in Account.objects.values_list("id", "balance").order_by("id").iterator():
        total = sums.get(account_id) or 0
        if balance != total:
            problems.append(f"account {account_id}: balance {balance} != sum of ledger {total}")
    previous = {}
    rows = LedgerEntry.objects.order_by("account_id", "id").values_list(
        "account_id", "id", "amount", "balance_after"
    )
    for account_id, entry_id, amount, balance_after in rows.iterator(chunk_size=5000):
        expected = previous.get(account_id, 0) + amount
        if balance_after != expected:
            problems.append(
                f"account {account_id}: entry {entry_id} has balance_after {balance_after}, "
                f"expected {expected} (previous {previous.get(account_id, 0)} {amount:+d})"
            )
        previous[account_id] = balance_after
    for account_id, balance in Account.objects.filter(id__in=previous).values_list("id", "balance"):
        if previous[account_id] != balance:
            problems.append(
                f"account {account_id}: last balance_after {previous[account_id]} != balance {balance}"
            )
    return problems
