"""Benchmark of the library at 10,000 images.

1. Over HTTP against the server (gunicorn, signed in with a session cookie): the library's first
   page at 10,000 images, alternating request by request with the baseline, the same page of a
   library of one page (24 images), so both see the same server, cache and load. Target: under
   50 ms (median) at 10,000 images.
2. In-process: a keyset page deep in the history against the first, and the same deep page the way
   Django's Paginator would fetch it (COUNT plus OFFSET), on the same rows.
"""

import os
import re
import time

N_IMAGES = 10_000
REPEAT = 20
HTTP_PAIRS = 30 if os.environ.get("BENCH_QUICK") == "1" else 100
TARGET_MS = 50.0


def _seed(*, user, n):
    """Bulk-insert `n` generations for `user` with a price snapshot, one per second of history."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from billing.services import account_for_user
    from catalog.models import AIModel
    from generation.models import Generation, GenerationImage, Status, public_id_new

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
            input={"prompt": f"a gallery picture number {i}, watercolour"},
            status=Status.SUCCEEDED,
        )
        for i in range(n)
    ]
    made = Generation.objects.bulk_create(rows, batch_size=1000)
    for i, generation in enumerate(made):
        generation.created_at = start + timedelta(seconds=i)
    Generation.objects.bulk_update(made, ["created_at"], batch_size=1000)
    # One image row each: the page renders thumbnails as it would (the files need not exist).
    GenerationImage.objects.bulk_create(
        [
            GenerationImage(
                generation=generation,
                file=f"generations/{generation.public_id}.png",
                thumbnail=f"generations/{generation.public_id}.thumb.webp",
                width=1024,
                height=1024,
                content_type="image/png",
            )
            for generation in made
        ],
        batch_size=1000,
    )
    # A real library grows over months, and autovacuum re-analyses a table within a minute of a tenth
    # of it changing; these rows arrived in a second (and the CI machines' PostgreSQL runs with
    # autovacuum off, so it would never happen here). Analyse as autovacuum would before anyone looks,
    # so the planner works from the table that is there rather than from an empty one.
    with connection.cursor() as cursor:
        for model in (Generation, GenerationImage):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _ms(func):
    started = time.perf_counter()
    for _ in range(REPEAT):
        func()
    return (time.perf_counter() - started) / REPEAT * 1000


def _session_cookie(user):
    """Return a session id for `user`, made in-process in the server's database (a real sign-in)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def http_first_page(*, base_url, big, small, cpu=None):
    """Alternate GET /generations/ for `big` (10,000 images) and `small` (one page); return the figures."""
    import requests

    from generation.library import PAGE_SIZE

    sessions = {}
    for name, user in (("big", big), ("small", small)):
        session = requests.Session()  # keep-alive, as a browser would
        session.cookies.set("sessionid", _session_cookie(user))
        sessions[name] = session
    times = {"big": [], "small": []}

    def fetch(name):
        started = time.perf_counter()
        response = sessions[name].get(f"{base_url}/generations/", timeout=30, allow_redirects=False)
        elapsed = (time.perf_counter() - started) * 1000
        tiles = len(re.findall(r'class="lib-tile"', response.text))
        if response.status_code != 200 or tiles != PAGE_SIZE:
            raise RuntimeError(f"library page for {name}: HTTP {response.status_code}, {tiles} tiles")
        return elapsed

    for _ in range(5):  # warm both workers' caches and connections
        fetch("big"), fetch("small")
    for i in range(HTTP_PAIRS):
        # Alternate which goes first, so neither always follows the other.
        order = ("big", "small") if i % 2 == 0 else ("small", "big")
        for name in order:
            times[name].append(fetch(name))
    result = {}
    if cpu is not None:
        # The server's own CPU per page (user + system of gunicorn's processes): less swayed than
        # wall time by whatever else the machine is running.
        for name in ("big", "small"):
            before = cpu()
            for _ in range(HTTP_PAIRS):
                fetch(name)
            result[f"http_{name}_cpu_ms"] = (cpu() - before) / HTTP_PAIRS * 1000
    for name, values in times.items():
        result[f"http_{name}_p50_ms"] = _pct(values, 50)
        result[f"http_{name}_p95_ms"] = _pct(values, 95)
    result["http_pairs"] = HTTP_PAIRS
    result["http_target_ms"] = TARGET_MS
    result["http_met"] = result["http_big_p50_ms"] < TARGET_MS
    return result


def main(*, user, base_url=None, small_user=None, cpu=None):
    from django.core.paginator import Paginator

    from generation import selectors
    from generation.library import PAGE_SIZE

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

    results = {"n_images": N_IMAGES}
    if base_url and small_user is not None:
        _seed(user=small_user, n=PAGE_SIZE)
        results.update(http_first_page(base_url=base_url, big=user, small=small_user, cpu=cpu))
        print(
            f"library first page over HTTP at {N_IMAGES} images: p50 {results['http_big_p50_ms']:.1f} ms, "
            f"p95 {results['http_big_p95_ms']:.1f} ms; baseline (one page of {PAGE_SIZE}) p50 "
            f"{results['http_small_p50_ms']:.1f} ms; target < {TARGET_MS:g} ms: "
            f"{'met' if results['http_met'] else 'NOT MET'}; server CPU per page "
            f"{results.get('http_big_cpu_ms', float('nan')):.1f} ms (baseline "
            f"{results.get('http_small_cpu_ms', float('nan')):.1f} ms)",
            flush=True,
        )
    results |= {
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
