"""manage.py reconcile [--date YYYY-MM-DD]: reconcile one UTC day with KIE (docs/ops.md)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from ops import reconcile


def _day(value):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Compare what KIE billed with the catalogue's prices and what we charged for one UTC day; "
        "record every mismatch, print a per-model summary, e-mail staff. Exits 1 while the day has "
        "unresolved mismatches."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="The UTC day, YYYY-MM-DD (default: today).")
        parser.add_argument("--no-email", action="store_true", help="Print only; do not e-mail staff.")
        parser.add_argument(
            "--no-kie", action="store_true", help="Do not ask KIE for bills not reported yet (offline)."
        )

    def handle(self, *args, date=None, no_email=False, no_kie=False, **options):
        day = date or reconcile.today_utc()
        report = reconcile.reconcile_day(day=day, backfill=not no_kie, email=not no_email)
        self.stdout.write("\n".join(reconcile.summary_lines(report)))
        if report.unresolved:
            raise CommandError(
                f"{report.unresolved} unresolved mismatch(es) for {day.isoformat()}: "
                "resolve them in the admin (Operations › Mismatches).",
                returncode=1,
            )
