"""Reads of the project package: a user's API keys, webhook deliveries and ledger for the API."""

from billing.models import Account, LedgerEntry

from .models import ApiKey, PartnerSettings, WebhookDelivery

DEFAULT_RATE_PER_MINUTE = PartnerSettings._meta.get_field("rate_limit_per_minute").default


def api_keys_for_user(*, user):
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")


def partner_settings_get(*, user):
    """Return the user's partner settings, or None before their first key (reads never create)."""
    return PartnerSettings.objects.filter(account__user=user).first()


def webhook_deliveries_for_user(*, user, limit=50):
    return WebhookDelivery.objects.filter(account__user=user).order_by("-created_at", "-id")[:limit]


def ledger_entries_for_user(*, user):
    """Return the user's ledger, newest first (an empty queryset before the account exists)."""
    return LedgerEntry.objects.filter(account__user=user).order_by("-created_at", "-id")


def account_get_for_user(*, user):
    return Account.objects.filter(user=user).first()


def rate_limit_for_user(*, user_id):
    """Return the requests per minute each of the user's keys may make."""
    rate = PartnerSettings.objects.filter(account__user_id=user_id).values_list(
        "rate_limit_per_minute", flat=True
    )
    return rate.first() or DEFAULT_RATE_PER_MINUTE
