"""Fast library rows for tests and the bench: generations (with an image each) bulk-inserted."""

from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.services import account_for_user
from catalog.models import AIModel
from generation.models import Generation, GenerationImage, Status, public_id_new

FAST = "google/imagen4-fast"


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
                name = default_storage.save(name, ContentFile(b"\x89PNG fake " + row.public_id.encode()))
            images.append(
                GenerationImage(
                    generation=row, file=name, content_type="image/png", width=64, height=64, bytes=10
                )
            )
        GenerationImage.objects.bulk_create(images)
    return rows
