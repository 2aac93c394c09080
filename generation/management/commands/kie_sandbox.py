"""Serve the KIE simulator in the foreground: `manage.py kie_sandbox --port 8001`."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.kie_sandbox.core import KieSandbox


def _latency(value):
    low, _, high = value.partition("-")
    try:
        low = float(low)
        high = float(high) if high else low
    except ValueError as exc:
        raise CommandError(f"--latency wants SECONDS or LOW-HIGH, not {value!r}") from exc
    if low < 0 or high < low:
        raise CommandError(f"--latency wants 0 <= LOW <= HIGH, not {value!r}")
    return low, high


class Command(BaseCommand):
    help = "Run the KIE simulator (KIE's HTTP API, sized pictures, signed callbacks) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.KIE_SANDBOX_PORT)
        parser.add_argument("--latency", default="1-4", help="task duration in seconds: N or LOW-HIGH")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="share of tasks that fail")
        parser.add_argument(
            "--hmac-key",
            default=settings.KIE_WEBHOOK_HMAC_KEY or None,
            help="sign callbacks like KIE (default: KIE_WEBHOOK_HMAC_KEY)",
        )
        parser.add_argument("--api-key", default=None, help="accept only this Bearer key (default: any)")
        parser.add_argument("--http-errors", action="store_true", help="errors as HTTP statuses too")

    def handle(self, *args, **options):
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate must be between 0 and 1")
        sandbox = KieSandbox(
            host=options["host"],
            port=options["port"],
            latency=_latency(options["latency"]),
            failure_rate=options["failure_rate"],
            hmac_key=options["hmac_key"],
            api_key=options["api_key"],
            http_errors=options["http_errors"],
        )
        try:
            sandbox.start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}") from exc
        stop = threading.Event()
        # SIGTERM (from `make run`'s shell) and Ctrl-C both end the wait below, then stop cleanly.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(f"KIE sandbox on {sandbox.base_url} (Ctrl-C stops it)")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
        self.stdout.write("KIE sandbox stopped")
