"""manage.py generate <email> <model-slug> --input JSON [--wait]: one generation, as the pages make it."""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from artio.errors import ArtioError
from artio.models import User
from generation import kie, pipeline, services
from generation.models import Generation, Status


class Command(BaseCommand):
    help = (
        "Create one generation through the same service as the pages (same validation and charge) "
        "and print its id. With --wait, drive it to the end and print the outcome; exit 1 on failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("model_slug")
        parser.add_argument("--input", default="{}", help="The model's input as a JSON object.")
        parser.add_argument("--wait", action="store_true", help="Wait for the outcome.")
        parser.add_argument(
            "--timeout", type=float, default=None, help="Seconds to wait (default: the deadline)."
        )

    def handle(self, *args, email, model_slug, input, wait, timeout, **options):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        try:
            data = json.loads(input)
        except ValueError as exc:
            raise CommandError(f"--input is not JSON: {exc}") from exc
        try:
            generation = services.generation_create(user=user, model_slug=model_slug, data=data, source="web")
        except ArtioError as exc:
            details = ""
            if exc.code == "invalid_input":
                details = "".join(f"\n  {field}: {' '.join(msgs)}" for field, msgs in exc.details.items())
            raise CommandError(f"{exc.code}: {exc.message}{details}") from exc
        self.stdout.write(generation.public_id)
        if not wait:
            return
        generation = self._wait(generation, timeout or settings.KIE_DEADLINE_SECONDS + 60)
        self.stdout.write(f"status: {generation.status}")
        self.stdout.write(f"credits charged: {generation.credits_charged}")
        if generation.refunded:
            self.stdout.write(f"credits refunded: {generation.refunded_credits}")
        if generation.error_message:
            self.stdout.write(f"error: {generation.error_message}")
        for image in generation.images.all():
            self.stdout.write(f"image: {_image_link(image.file.url)}")
        if generation.status != Status.SUCCEEDED:
            raise CommandError(f"generation {generation.public_id} {generation.status}", returncode=1)

    def _wait(self, generation, timeout):
        """Drive the pipeline from here: a worker may be running too, and every step is idempotent.

        Dispatch goes through the same shared rate limiter; then recordInfo is polled every 2 s, the
        way the scheduled poller would, so --wait works with or without `qcluster`.
        """
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            generation.refresh_from_db()
            if generation.is_terminal:
                return generation
            try:
                if generation.status == Status.QUEUED:
                    pipeline.generations_dispatch(max_seconds=10.0, max_count=1)
                else:
                    pipeline.generation_refresh(generation_id=generation.pk)
            except kie.KieError as exc:
                self.stderr.write(f"KIE: {exc.message} (will retry)")
            generation.refresh_from_db()
            if generation.is_terminal:
                return generation
            time.sleep(2)
        if generation.status in (Status.SUBMITTED, Status.RUNNING):
            pipeline.generations_poll(max_seconds=10.0)
        return Generation.objects.get(pk=generation.pk)


def _image_link(url):
    # The storage's URL, not a file path: with S3 there is no local file (and `.path` raises), and a
    # signed URL works from any host; local storage's /media/ URL is made absolute.
    return url if url.startswith(("https://", "http://")) else settings.ARTIO_PUBLIC_URL + url
