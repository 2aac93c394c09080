"""Benchmark of the gallery at 10,000 images: a keyset page deep in the history against the first.

The baseline is the same deep page fetched the way Django's Paginator would (COUNT plus OFFSET),
measured in the same run on the same rows.
"""

import time

N_IMAGES = 10_000
REPEAT = 20


def _seed(*, user, n):
    """Bulk-insert `n` generations for `user` with a price snapshot, one per second of history."""
    from datetime import timedelta

    from django.utils import timezone

    from billing.services import account_for_user
    from catalog.models import AIModel
    from generation.models import Generation, Status, public_id_new

    account = account_for_user(user=user)
    model = AIModel.objects.get(slug="google/imagen4-fast")
    price = model.prices.first()
    start = timezone.now() - timedelta(seconds=n)
    rows = [
        Generation(
            public_id=public_id_new(),
            owner=user,
            account=account,
            model=model,
            price=price,
            unit_credits=price.credits,
            credits_charged=price.credits,
            images_requested=1,
            input={"prompt": f"gallery {i}"},
            status=Status.SUCCEEDED,
        )
        for i in range(n)
    ]
    made = Generation.objects.bulk_create(rows, batch_size=1000)
    for i, generation in enumerate(made):
        generation.created_at = start + timedelta(seconds=i)
    Generation.objects.bulk_update(made, ["created_at"], batch_size=1000)


def _ms(func):
    started = time.perf_counter()
    for _ in range(REPEAT):
        func()
    return (time.perf_counter() - started) / REPEAT * 1000


def main(*, user):
    from django.core.paginator import Paginator

    from generation import selectors
    from generation.views import PAGE_SIZE

    def keyset(before=None):
        return selectors.generations_page_for_owner(user=user, before=before, size=PAGE_SIZE)

    _seed(user=user, n=N_IMAGES)
    # Walk the "Older" links to the page before the deep one, as a user would, for its cursor.
    deep_number = N_IMAGES // PAGE_SIZE - 1
    page = keyset()
    for _ in range(deep_number - 1):
        page = keyset(before=page.older)
    cursor = page.older

    def offset():
        paginator = Paginator(selectors.generations_for_owner(user=user), PAGE_SIZE)
        return list(paginator.page(deep_number + 1).object_list)

    results = {
        "first_ms": _ms(keyset),
        "deep_ms": _ms(lambda: keyset(before=cursor)),
        "offset_ms": _ms(offset),
    }
    print(
        f"gallery of {N_IMAGES} images, page {deep_number + 1} of {PAGE_SIZE}: keyset "
        f"{results['deep_ms']:.1f} ms (first page {results['first_ms']:.1f} ms); "
        f"COUNT + OFFSET baseline {results['offset_ms']:.1f} ms"
    )
    return results
