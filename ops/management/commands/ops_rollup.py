from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from ops.rollup import RollupRefused, rollup_days, today_utc


def _day(value):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Rebuild the overview's per-day rollup from the generations for finished UTC days "
        "(default: yesterday). Safe to run again over any range."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=_day, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument(
            "--to", dest="last", type=_day, help="last day, YYYY-MM-DD (UTC); default yesterday"
        )

    def handle(self, *args, first=None, last=None, **options):
        last = last or today_utc() - timedelta(days=1)
        first = first or last
        try:
            days, rows = rollup_days(first, last)
        except RollupRefused as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Rolled up {days} day(s), {first} to {last}: {rows} model-day row(s).")
