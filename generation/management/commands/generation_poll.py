"""manage.py generation_poll [--loop]: run the poller's sweep by hand (staff, or without qcluster)."""

import time

from django.core.management.base import BaseCommand

from generation import pipeline


class Command(BaseCommand):
    help = "Dispatch queued generations, re-check ones whose callback never came, apply deadlines."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Repeat every --every seconds.")
        parser.add_argument("--every", type=float, default=30.0)

    def handle(self, *args, loop, every, **options):
        while True:
            report = pipeline.generations_dispatch(max_seconds=20.0)
            summary = pipeline.generations_poll(max_seconds=40.0)
            self.stdout.write(f"submitted {len(report.submitted)}, failed {len(report.failed)}, {summary}")
            if not loop:
                return
            time.sleep(every)
