from django.core.management.base import BaseCommand

from billing.selectors import ledger_audit


class Command(BaseCommand):
    help = "Check balance == SUM(ledger) and balance_after continuity for every account (exit 1 if not)."

    def handle(self, *args, **options):
        problems = ledger_audit()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            self.stderr.write(self.style.ERROR(f"Ledger audit FAILED: {len(problems)} problem(s)."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Ledger audit passed: every balance equals its ledger."))
