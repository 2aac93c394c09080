"""Reads of the project package: a user's API keys and partner terms."""

from .models import ApiKey, PartnerSettings

DEFAULT_RATE_PER_MINUTE = PartnerSettings._meta.get_field("rate_limit_per_minute").default


def api_keys_for_user(*, user):
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")


def partner_settings_get(*, user):
    """Return the user's partner settings, or None before their first key (reads never create)."""
    return PartnerSettings.objects.filter(user=user).first()


def rate_limit_for_user(*, user_id):
    """Return the requests per minute each of the user's keys may make."""
    rate = PartnerSettings.objects.filter(user_id=user_id).values_list("rate_limit_per_minute", flat=True)
    return rate.first() or DEFAULT_RATE_PER_MINUTE


def discount_percent_for_user(*, user):
    """Return the partner discount of `user` (0 for anyone without one, anonymous callers included)."""
    if user is None or not user.is_authenticated:
        return 0
    found = PartnerSettings.objects.filter(user=user).values_list("discount_percent", flat=True).first()
    return found or 0
