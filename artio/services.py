"""Writes of the project package: API keys and partner settings (webhook secret, rate limit)."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .memo import memo_bump
from .models import ApiKey, PartnerSettings
from .selectors import PARTNER_TERMS

KEY_PREFIX = "artio_"
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
