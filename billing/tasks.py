"""django-q2 entry points for billing. Thin and idempotent: a repeat finds the state already moved."""

from . import autotopup, subscriptions


def subscription_grace_sweep():
    """Move accounts whose subscription stopped granting (grace over, canceled) to their plan now."""
    return subscriptions.subscription_grace_sweep()


def auto_topup_run(account_id):
    """Charge the account's automatic top-up for its latest crossing (once, however often delivered)."""
    return getattr(autotopup.auto_topup_charge(account_id=account_id), "public_id", None)


def low_balance_mail_send(account_id):
    """E-mail the low-balance alert (one per crossing; the crossing was claimed before queueing)."""
    return autotopup.low_balance_mail_send(account_id=account_id)
