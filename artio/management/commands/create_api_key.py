"""Create a partner API key for a user; print it once, with the account's webhook signing secret."""

import argparse

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from artio.errors import ArtioError
from artio.models import User
from artio.services import api_key_create, partner_rate_limit_set, partner_settings_for_user


def per_minute(raw):
    """Parse --rate-limit: a whole number of requests per minute, at least 1."""
    text = raw.strip()
    # The length check keeps int() away from thousands of digits.
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) >= 1):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of requests per minute, 1 or more, not {raw!r}"
        )
    return int(text)


class Command(BaseCommand):
    help = "Create an API key for the user with this e-mail; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="", help="A name to tell keys apart.")
        parser.add_argument(
            "--rate-limit",
            type=per_minute,
            metavar="PER_MINUTE",
            help="API requests per minute for every key of this account (enterprise terms; default 120).",
        )

    def handle(self, *args, email, name, rate_limit, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        try:
            # A refused limit leaves no key behind: the key is printed once, so it must not go unseen.
            with transaction.atomic():
                _api_key, raw_key = api_key_create(user=user, name=name)
                if rate_limit is not None:
                    partner_rate_limit_set(user=user, per_minute=rate_limit)
        except ArtioError as exc:
            raise CommandError(exc.message) from None
        partner = partner_settings_for_user(user=user)
        self.stdout.write(f"API key (shown once, store it now): {raw_key}")
        self.stdout.write(f"Webhook signing secret: {partner.webhook_secret}")
        self.stdout.write(f"Rate limit: {partner.rate_limit_per_minute} requests per minute for each key")
