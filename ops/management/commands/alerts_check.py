from django.core.management.base import BaseCommand

from ops.alerts import alerts_check


class Command(BaseCommand):
    help = "Check KIE's balance, models' failure rates and reconciliation once; open, close and mail alerts."

    def handle(self, *args, **options):
        summary = alerts_check()
        self.stdout.write(
            f"{summary['found']} conditions found, {summary['opened']} alerts opened "
            f"({summary['mailed']} e-mailed), {summary['resolved']} closed."
        )
