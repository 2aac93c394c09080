"""Billing's writes (HackSoft style: views, webhooks, commands and other apps call these).

accounts: balances and the ledger (charge, refund, adjust, freeze, the sign-up bonus);
topups: buying credits through Checkout; payments: refunds and disputes of those payments;
stripe_events: the webhook's dispatch and the sandbox's Stripe side.
Import from `billing.services`; the modules are how it is organised, not a public surface.
"""

from .accounts import (
    AccountFrozen,
    BillingError,
    InsufficientCredits,
    account_for_user,
    account_freeze,
    account_unfreeze,
    balance_adjust,
    credits_charge,
    credits_refund,
    signup_bonus_grant,
)
from .payments import topup_dispute_close, topup_dispute_open, topup_refund_record
from .stripe_events import sandbox_checkout_cancel, sandbox_checkout_pay, stripe_event_process
from .topups import (
    TopUpInvalid,
    topup_checkout_start,
    topup_create,
    topup_expire,
    topup_fail,
    topup_fulfil,
    topup_fulfil_from_stripe,
)

__all__ = [
    "AccountFrozen",
    "BillingError",
    "InsufficientCredits",
    "TopUpInvalid",
    "account_for_user",
    "account_freeze",
    "account_unfreeze",
    "balance_adjust",
    "credits_charge",
    "credits_refund",
    "sandbox_checkout_cancel",
    "sandbox_checkout_pay",
    "signup_bonus_grant",
    "stripe_event_process",
    "topup_checkout_start",
    "topup_create",
    "topup_dispute_close",
    "topup_dispute_open",
    "topup_expire",
    "topup_fail",
    "topup_fulfil",
    "topup_fulfil_from_stripe",
    "topup_refund_record",
]
