"""Create a partner API key for a user; print it once, with the account's webhook signing secret."""

from django.core.management.base import BaseCommand, CommandError

from artio.models import User
from artio.services import api_key_create, partner_settings_for_user


class Command(BaseCommand):
    help = "Create an API key for the user with this e-mail; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="", help="A name to tell keys apart.")

    def handle(self, *args, email, name, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        _api_key, raw_key = api_key_create(user=user, name=name)
        partner = partner_settings_for_user(user=user)
        self.stdout.write(f"API key (shown once, store it now): {raw_key}")
        self.stdout.write(f"Webhook signing secret: {partner.webhook_secret}")
