"""Reads of the project package: a user's API keys and partner terms."""

from dataclasses import dataclass

from .memo import memo_get
from .models import ApiKey, PartnerSettings

DEFAULT_RATE_PER_MINUTE = PartnerSettings._meta.get_field("rate_limit_per_minute").default
PARTNER_TERMS = "partner_terms"  # the memo name; artio.services and the admin bump it on writes


@dataclass(frozen=True)
class PartnerTerms:
    rate_limit_per_minute: int
    discount_percent: int


def api_keys_for_user(*, user):
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")


def partner_settings_get(*, user):
    """Return the user's partner settings, or None before their first key (reads never create)."""
    return PartnerSettings.objects.filter(user=user).first()


def _partner_terms_load(user_id):
    found = (
        PartnerSettings.objects.filter(user_id=user_id)
        .values_list("rate_limit_per_minute", "discount_percent")
        .first()
    )
    rate, discount = found or (DEFAULT_RATE_PER_MINUTE, 0)
    return PartnerTerms(rate_limit_per_minute=rate or DEFAULT_RATE_PER_MINUTE, discount_percent=discount or 0)


def partner_terms_for_user(*, user_id):
    """Return the user's rate limit and discount: one query, then from memory until an edit."""
    return memo_get(PARTNER_TERMS, user_id, lambda: _partner_terms_load(user_id))


def rate_limit_for_user(*, user_id):
    """Return the requests per minute each of the user's keys may make."""
    return partner_terms_for_user(user_id=user_id).rate_limit_per_minute


def discount_percent_for_user(*, user):
    """Return the partner discount of `user` (0 for anyone without one, anonymous callers included)."""
    if user is None or not user.is_authenticated:
        return 0
    return partner_terms_for_user(user_id=user.pk).discount_percent
