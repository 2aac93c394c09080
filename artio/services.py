"""Writes of the project package: API keys and partner settings (webhook secret, rate limit)."""

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .errors import ArtioError
from .memo import memo_bump
from .models import ApiKey, PartnerSettings
from .selectors import PARTNER_TERMS

KEY_PREFIX = "artio_"
# The column is a PositiveIntegerField; its portable upper bound (PostgreSQL's integer).
RATE_LIMIT_MAX_PER_MINUTE = 2_147_483_647
# last_used_at is written at most this often per key, so a busy key costs no write per request.
LAST_USED_RESOLUTION_SECONDS = 60


def api_key_hash(*, raw_key):
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, user, name=""):
    """Create a key for `user`; return (ApiKey, the full key). The full key is never stored.

    The account's partner settings (webhook signing secret, rate limit) are created with its first
    key, so the keys page, a GET, only ever reads them.
    """
    prefix = secrets.token_hex(6)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            user=user, name=name.strip()[:100], prefix=prefix, key_hash=api_key_hash(raw_key=raw_key)
        )
        partner_settings_for_user(user=user)
    return api_key, raw_key


def api_key_revoke(*, user, key_id):
    """Revoke one of `user`'s keys (another user's id is a 404); revoking twice is a no-op."""
    api_key = get_object_or_404(ApiKey, pk=key_id, user=user)
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key


def api_key_verify(*, raw_key):
    """Return the active ApiKey for `raw_key`, or None when it is malformed, unknown or revoked."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    prefix, sep, secret = raw_key[len(KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    # Hash and compare even for an unknown prefix, so timing does not tell which prefixes exist.
    expected = api_key.key_hash if api_key else "0" * 64
    if not hmac.compare_digest(expected, api_key_hash(raw_key=raw_key)) or api_key is None:
        return None
    if api_key.revoked_at is not None or not api_key.user.is_active:
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at < stale:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def webhook_secret_new():
    return "whsec_" + secrets.token_urlsafe(32)


def partner_settings_for_user(*, user):
    """Return the user's partner settings, creating them (with a fresh secret) on first use."""
    found = PartnerSettings.objects.filter(user=user).first()
    if found:
        return found
    try:
        with transaction.atomic():
            created = PartnerSettings.objects.create(user=user, webhook_secret=webhook_secret_new())
        memo_bump(PARTNER_TERMS)
        return created
    except IntegrityError:
        # A concurrent request created them first; theirs is the secret.
        return PartnerSettings.objects.get(user=user)


def webhook_secret_rotate(*, user):
    """Give the user's account a new webhook signing secret; the old one stops verifying at once."""
    partner = partner_settings_for_user(user=user)
    partner.webhook_secret = webhook_secret_new()
    partner.save(update_fields=["webhook_secret", "updated_at"])
    return partner


def api_key_cap_set(*, user, key_id, cap):
    """Set (or, with None, lift) the monthly credit cap of one of the user's keys; return the key."""
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ArtioError("The cap must be a whole number of credits, at least 1.")
    api_key = get_object_or_404(ApiKey, pk=key_id, user=user)
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_credit_cap=cap)
    api_key.monthly_credit_cap = cap
    return api_key


def partner_rate_limit_set(*, user, per_minute):
    """Set the API requests per minute each of the user's keys may make (enterprise terms)."""
    if isinstance(per_minute, bool) or not isinstance(per_minute, int):
        raise ArtioError("The rate limit must be a whole number of requests per minute.")
    if not 1 <= per_minute <= RATE_LIMIT_MAX_PER_MINUTE:
        raise ArtioError(
            f"The rate limit must be from 1 to {RATE_LIMIT_MAX_PER_MINUTE} requests per minute, "
            f"not {per_minute}."
        )
    partner = partner_settings_for_user(user=user)
    PartnerSettings.objects.filter(pk=partner.pk).update(
        rate_limit_per_minute=per_minute, updated_at=timezone.now()
    )
    partner.refresh_from_db()
    return partner


# One statement: a new row, a new window (the last one closed), or one more in the open window.
_RATE_COUNTER_UPSERT = (
    "INSERT INTO artio_ratecounter (name, count, window_start) VALUES (%s, 1, %s) "
    "ON CONFLICT (name) DO UPDATE SET "
    "count = CASE WHEN artio_ratecounter.window_start <= %s THEN 1 ELSE artio_ratecounter.count + 1 END, "
    "window_start = CASE WHEN artio_ratecounter.window_start <= %s THEN %s "
    "ELSE artio_ratecounter.window_start END "
    "RETURNING count, window_start"
)


def rate_counter_hit(*, name, window_seconds, now=None):
    """Count one request against `name`; return (requests in the current window, seconds it has left).

    A window opens at the first request after the last one closed, so a burst of N requests is
    judged as a whole. One statement (an upsert that starts a new window or adds one), atomic in
    SQLite and PostgreSQL alike: concurrent requests can never both read the same count.
    """
    now = time.time() if now is None else now
    opened_before = now - window_seconds
    with connection.cursor() as cursor:
        cursor.execute(_RATE_COUNTER_UPSERT, [name, now, opened_before, opened_before, now])
        count, window_start = cursor.fetchone()
    return count, max(0.0, window_start + window_seconds - now)
