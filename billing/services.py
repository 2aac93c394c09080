"""Writes to accounts and the ledger. Every balance change goes through `_ledger_post`."""

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import Account, LedgerEntry, LedgerKind


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


def _ledger_post(*, account_id, amount, kind, reference, description="", created_by=None, only_if=None):
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
