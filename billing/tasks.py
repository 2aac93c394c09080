"""django-q2 entry points for billing. Thin and idempotent: a repeat finds the state already moved."""

from . import subscriptions


def subscription_grace_sweep():
    """Move accounts whose subscription stopped granting (grace over, canceled) to their plan now."""
    return subscriptions.subscription_grace_sweep()
