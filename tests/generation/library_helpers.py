"""Fast library rows for tests and the bench: generations (with an image each) bulk-inserted."""

import io
import re
from datetime import timedelta
from html import unescape

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.services import account_for_user
from catalog.models import AIModel
from generation.models import Generation, GenerationImage, Status, public_id_new

FAST = "google/imagen4-fast"
COLOURS = [(91, 61, 245), (15, 123, 69), (214, 110, 40), (30, 140, 200), (180, 40, 90), (120, 120, 40)]


def png(index, size=256):
    """Return a small real PNG, a two-colour gradient picked by `index` (screenshots show images)."""
    from PIL import Image

    start, end = COLOURS[index % len(COLOURS)], COLOURS[(index + 2) % len(COLOURS)]
    image = Image.new("RGB", (size, size))
    for y in range(size):
        mix = y / (size - 1)
        colour = tuple(round(a + (b - a) * mix) for a, b in zip(start, end, strict=True))
        image.paste(colour, (0, y, size, y + 1))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def library_seed(
    user, n, *, prompt="library {i}", model=FAST, status=Status.SUCCEEDED, files=False, start=None
):
    """Insert `n` generations of `user`, one second apart (oldest first), each with one image row.

    With `files`, each image's bytes are really in storage (for the export). Return them, oldest first.
    """
    account = account_for_user(user=user)
    ai_model = AIModel.objects.get(slug=model)
    price = ai_model.prices.first()
    start = start or timezone.now() - timedelta(seconds=n + 10)
    rows = Generation.objects.bulk_create(
        [
            Generation(
                public_id=public_id_new(),
                owner=user,
                account=account,
                model=ai_model,
                price=price,
                unit_credits=price.credits,
                credits_charged=price.credits,
                images_requested=1,
                input={"prompt": prompt.format(i=i)},
                status=status,
            )
            for i in range(n)
        ]
    )
    for i, row in enumerate(rows):
        row.created_at = start + timedelta(seconds=i)
    Generation.objects.bulk_update(rows, ["created_at"])
    if status == Status.SUCCEEDED:
        images = []
        for row in rows:
            name = f"generations/{row.public_id}.png"
            if files:
                name = default_storage.save(name, ContentFile(png(row.pk)))
            images.append(
                GenerationImage(
                    generation=row, file=name, content_type="image/png", width=64, height=64, bytes=10
                )
            )
        GenerationImage.objects.bulk_create(images)
    return rows


def prompts(html):
    """The numbers of the "library {i}" tiles a library page shows, in its order."""
    return re.findall(r'alt="library (\d+)[^"]*"', html)


def more_link(html):
    """The URL of the page's "Load more" (the next page by cursor), or None on the last page."""
    found = re.search(r'href="([^"]*)" hx-get="[^"]*" hx-trigger="revealed"', html)
    return unescape(found.group(1)) if found else None
