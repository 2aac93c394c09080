"""Writes to accounts and the ledger. Every balance change goes through `ledger_post`.

Errors are ArtioError (artio/errors.py), so pages and the partner API show them alike.
"""

import logging
import uuid
from datetime import UTC

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from artio.errors import ArtioError
from catalog.money import usd_cents

from .models import (
    Account,
    BillingSettings,
    DisputeStatus,
    FrozenCause,
    KeyCharge,
    KeySpend,
    LedgerEntry,
    LedgerKind,
)

logger = logging.getLogger("billing")


class BillingError(ArtioError):
    """A charge or purchase that must not happen; the message is fit to show the user."""


class InsufficientCredits(BillingError):
    code, http_status = "insufficient_credits", 402

    def __init__(self, *, required, balance):
        self.required, self.balance = required, balance
        super().__init__(
            f"This costs {required} credits; your balance is {balance}.",
            details={"required": required, "balance": balance},
        )


class AccountFrozen(BillingError):
    code, http_status = "account_frozen", 403

    def __init__(self, *, reason=""):
        self.reason = reason
        super().__init__("This account is frozen" + (f": {reason}" if reason else "") + ".")


class SpendCapReached(BillingError):
    code, http_status = "spend_cap_reached", 402

    def __init__(self, *, cap, spent, required):
        self.cap, self.spent, self.required = cap, spent, required
        super().__init__(
            f"This costs {required} credits; this API key has spent {spent} of its {cap} this month (UTC).",
            details={"cap": cap, "spent": spent, "required": required},
        )


def account_for_user(*, user):
    """Return the user's account, creating it (empty, free plan) on first use."""
    account, _ = Account.objects.get_or_create(user=user)
    return account


def _balance_add(*, account_id, amount, only_if_spendable):
    """Add `amount` to the balance in one `UPDATE … RETURNING`; return the new balance, or None
    when no row matched (with `only_if_spendable`: the balance does not cover the debit, or frozen).

    The UPDATE both decides and takes the row lock, which is held until commit; RETURNING gives
    exactly our result without a second statement under that lock. SQLite ≥ 3.35 and PostgreSQL
    both have it.
    """
    connection = connections[router.db_for_write(Account)]
    quote = connection.ops.quote_name
    table = quote(Account._meta.db_table)
    pk = quote(Account._meta.pk.column)
    balance = quote(Account._meta.get_field("balance").column)
    frozen = quote(Account._meta.get_field("frozen").column)
    sql = f"UPDATE {table} SET {balance} = {balance} + %s WHERE {pk} = %s"  # noqa: S608 (names only)
    params = [amount, account_id]
    if only_if_spendable:
        sql += f" AND {balance} >= %s AND {frozen} = %s"
        params += [-amount, False]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {balance}", params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def ledger_post(
    *,
    account_id,
    amount,
    kind,
    reference,
    description="",
    created_by=None,
    only_if_spendable=False,
    topup_id=None,
):
    """Move the balance by `amount` and write its ledger row, in the caller's transaction.

    With `only_if_spendable` (a debit) the conditional UPDATE also requires the balance to cover
    it and the account not to be frozen; when it matches no row nothing is written and None is
    returned. A second post of the same (kind, reference) raises IntegrityError, and the caller's
    transaction must roll back (ledger_post_once recovers from it in a savepoint of its own).
    """
    # No savepoint: nothing here recovers from an error, the caller's transaction rolls back whole.
    with transaction.atomic(savepoint=False):
        balance_after = _balance_add(
            account_id=account_id, amount=amount, only_if_spendable=only_if_spendable
        )
        if balance_after is None:
            return None
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


def ledger_post_once(*, account_id, kind, reference, before_post=None, **kwargs):
    """Post a row that must exist at most once per (kind, reference); a repeat returns the first.

    `before_post()` runs in the same savepoint just before the post, so it is undone if the post
    loses the race; before, so any row it locks is locked before the account, as charges do.
    """
    existing = LedgerEntry.objects.filter(kind=kind, reference=str(reference)).first()
    if existing:
        return existing
    try:
        # A savepoint: losing the race below must undo our balance change, not the caller's work.
        with transaction.atomic():
            if before_post is not None:
                before_post()
            return ledger_post(account_id=account_id, kind=kind, reference=reference, **kwargs)
    except IntegrityError:
        # A concurrent post of the same reference won the race; it is the one that counts.
        return LedgerEntry.objects.get(kind=kind, reference=str(reference))


def spend_check(*, account, amount):
    """Raise AccountFrozen or InsufficientCredits when `account` (as read) cannot pay `amount`.

    An early answer before slow work (an upload); `credits_charge` alone decides, under concurrency.
    """
    if account.frozen:
        raise AccountFrozen(reason=account.frozen_reason)
    if account.balance < amount:
        raise InsufficientCredits(required=amount, balance=account.balance)


def credits_charge(*, account_id, amount, reference, kind=LedgerKind.GENERATION_CHARGE, description=""):
    """Take `amount` credits, or raise InsufficientCredits / AccountFrozen; never overdraws.

    One conditional UPDATE (balance >= amount, not frozen) decides, so concurrent charges against
    one balance cannot overdraw it, and a negative balance (after a clawback) cannot spend.
    Call inside the transaction that creates what is paid for.
    """
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    entry = ledger_post(
        account_id=account_id,
        amount=-amount,
        kind=kind,
        reference=reference,
        description=description,
        only_if_spendable=True,
    )
    if entry is None:
        # The UPDATE matched nothing: read the account once to say why.
        account = Account.objects.get(pk=account_id)
        if account.frozen:
            raise AccountFrozen(reason=account.frozen_reason)
        raise InsufficientCredits(required=amount, balance=account.balance)
    return entry


def credits_refund(*, account_id, amount, reference, description=""):
    """Give back `amount` credits for `reference` exactly once; a repeat returns the first row."""
    if amount <= 0:
        raise ValueError("A refund must be a positive number of credits.")
    return ledger_post_once(
        account_id=account_id,
        amount=amount,
        kind=LedgerKind.GENERATION_REFUND,
        reference=reference,
        description=description,
        before_post=lambda: key_spend_give_back(reference=reference, amount=amount),
    )


def thresholds_rearm(*, account_id, now=None):
    """Re-arm the automatic top-up and the low-balance alert once the balance is back at or above
    their thresholds (the automatic top-up also in a new calendar month); return what re-armed."""
    accounts = Account.objects.filter(pk=account_id)
    topup = accounts.filter(auto_topup_armed=False, auto_topup_enabled=True).filter(
        Q(balance__gte=F("auto_topup_threshold")) | Q(auto_topup_last_at__lt=month_first_moment(now))
    )
    alert = accounts.filter(low_balance_armed=False, balance__gte=F("low_balance_alert_at"))
    return bool(topup.update(auto_topup_armed=True)), bool(alert.update(low_balance_armed=True))


# --- Clawbacks of paid money (top-ups and subscription invoices) -----------------------------------


def clawback_settle(*, payment, credits, refund_reference, texts, **ledger_fields):
    """Bring the credits taken back from one paid `payment` (a TopUp or a SubscriptionInvoice, row-locked
    by the caller) to what Stripe told us implies: all `credits` while a dispute is open or lost,
    else the refunded share rounded up; a won dispute gives them back. One ledger row per change.

    `payment` carries `clawed_credits`, `refunded_cents`, `amount_cents`, `dispute_id` and
    `dispute_status`; `refund_reference` names it in the refund row's reference. `texts` are the
    three descriptions (won, disputed, refunded with an `{amount}`). Return the ledger row, or None
    when nothing moves.
    """
    if payment.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST):
        target = credits
    elif payment.amount_cents:
        # Rounded up, so a refund never leaves unpaid credits behind.
        target = -(-credits * payment.refunded_cents // payment.amount_cents)
    else:
        target = 0
    delta = target - payment.clawed_credits
    if delta == 0:
        return None
    if delta < 0:
        kind, reference = LedgerKind.DISPUTE_REVERSAL, f"dispute:{payment.dispute_id}:won"
        description = texts["won"]
    elif payment.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST):
        kind, reference = (
            LedgerKind.DISPUTE_CLAWBACK,
            f"dispute:{payment.dispute_id}:{payment.dispute_status}",
        )
        description = texts["disputed"]
    else:
        kind = LedgerKind.REFUND_CLAWBACK
        reference = f"refund:{refund_reference}:{payment.refunded_cents}"
        description = texts["refunded"].format(amount=usd_cents(payment.refunded_cents))
    payment.clawed_credits = target
    payment.save(update_fields=["clawed_credits"])
    # Not only_if_spendable: a clawback may take the balance below zero; that debt is honest, blocks spending.
    return ledger_post(
        account_id=payment.account_id,
        amount=-delta,
        kind=kind,
        reference=reference,
        description=description,
        **ledger_fields,
    )


# --- Spend per API key ------------------------------------------------------------------------------


def month_start(now=None):
    """Return the first day of the current calendar month in UTC: the spend caps' month."""
    now = now or timezone.now()
    return now.astimezone(UTC).date().replace(day=1)


def month_first_moment(now=None):
    """Return midnight UTC of the first day of the current calendar month."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _key_spend_add(*, api_key_id, month, amount, cap):
    """Add `amount` to the key's spend of `month` in one upsert; return the new total, or None when
    the cap would be passed. The conflicting row is locked until commit, so concurrent creates wait
    for each other and each sees the total the one before it committed."""
    connection = connections[router.db_for_write(KeySpend)]
    table = connection.ops.quote_name(KeySpend._meta.db_table)
    sql = (
        f"INSERT INTO {table} (api_key_id, month, credits) VALUES (%s, %s, %s) "  # noqa: S608 (names only)
        f"ON CONFLICT (api_key_id, month) DO UPDATE SET credits = {table}.credits + excluded.credits"
    )
    params = [api_key_id, month, amount]
    if cap is not None:
        sql += f" WHERE {table}.credits + excluded.credits <= %s"
        params.append(cap)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING id, credits", params)
        return cursor.fetchone()


def key_spend_take(*, api_key, amount, reference, now=None):
    """Count `amount` credits against `api_key`'s spend this month, or raise SpendCapReached.

    Call inside the charge's transaction, right before the charge: if the charge is refused, the
    count rolls back with it; if the cap refuses, nothing is charged. The cap is the key's as read
    when the request was authenticated.
    """
    month, cap = month_start(now), api_key.monthly_credit_cap
    row = (
        None
        if cap is not None and amount > cap
        else _key_spend_add(api_key_id=api_key.pk, month=month, amount=amount, cap=cap)
    )
    if row is None:
        spent = KeySpend.objects.filter(api_key_id=api_key.pk, month=month).values_list("credits", flat=True)
        raise SpendCapReached(cap=cap, spent=next(iter(spent), 0), required=amount)
    KeyCharge.objects.create(reference=str(reference), spend_id=row[0], credits=amount)
    return row[1]


def key_spend_give_back(*, reference, amount):
    """Return a refunded generation's credits to the spend of the key and month that paid for it.

    Called once per refund row (a partial refund's reference is `<generation>:partial`); a
    generation not created with an API key has nothing to give back.
    """
    generation_reference = str(reference).removesuffix(":partial")
    charge = KeyCharge.objects.filter(reference=generation_reference).first()
    if charge is None:
        return 0
    amount = min(amount, charge.credits - charge.returned)
    if amount <= 0:
        return 0
    moved = KeyCharge.objects.filter(pk=charge.pk, returned__lte=charge.credits - amount).update(
        returned=F("returned") + amount
    )
    if moved:
        KeySpend.objects.filter(pk=charge.spend_id).update(credits=F("credits") - amount)
    return amount if moved else 0


def signup_bonus_grant(*, user):
    """Grant the sign-up bonus once per user (when their e-mail is verified); return the row or None."""
    credits = BillingSettings.load().signup_bonus_credits
    account = account_for_user(user=user)
    if credits <= 0:
        return None
    return ledger_post_once(
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
        entry = ledger_post(
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
