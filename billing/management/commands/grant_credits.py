from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.services import account_for_user, balance_adjust


class Command(BaseCommand):
    help = "Add (or with a negative number, take) credits as an adjustment row in the user's ledger."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("credits", type=int)
        parser.add_argument("--reason", required=True, help="Shown in the user's ledger.")

    def handle(self, *args, email, credits, reason, **options):
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        if credits == 0:
            raise CommandError("Credits must not be zero.")
        if not reason.strip():
            raise CommandError("--reason must not be empty.")
        account = account_for_user(user=user)
        entry = balance_adjust(account_id=account.pk, amount=credits, reason=reason)
        self.stdout.write(f"{user.email}: {entry.amount:+d} credits, balance now {entry.balance_after}.")
