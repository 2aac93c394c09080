"""Benchmark of the operator overview at 100,000 generations: the admin page over HTTP against gunicorn.

The generations are bulk-inserted over the last 29 days (so all of them fall in "the last 30 days")
across every model, with KIE's billed credits and cost, a share failed and refunded, and completion
times. The page is fetched as a signed-in staff member, first for the 30-day period (every row), then
for the 7-day one. The KIE balance it shows comes from the simulator, cached for a minute as in
production. The query count is read in-process for the same page.
"""

import statistics
import time

import requests

N_GENERATIONS = 100_000
REPEAT = 20
TARGET_MS = 200


def _seed(*, n):
    """Bulk-insert `n` generations spread over models and the last 29 days; return how long it took."""
    from decimal import Decimal

    from django.db import connection

    from artio.models import User
    from billing.services import account_for_user
    from catalog.models import AIModel, Price
    from generation.models import Generation, Status, public_id_new

    began = time.monotonic()
    user = User.objects.create_user(email="overview-owner@bench.example", password=None)
    account = account_for_user(user=user)
    prices = [
        (p.model, p) for p in Price.objects.select_related("model").filter(model__in=AIModel.objects.all())
    ]
    batch = []
    for i in range(n):
        model, price = prices[i % len(prices)]
        failed = i % 10 == 0
        batch.append(
            Generation(
                public_id=public_id_new(),
                owner=user,
                account=account,
                model=model,
                price=price,
                unit_credits=price.credits,
                credits_charged=price.credits,
                images_requested=1,
                input={"prompt": "overview bench"},
                status=Status.FAILED if failed else Status.SUCCEEDED,
                refunded=failed,
                refunded_credits=price.credits if failed else 0,
                kie_credits_billed=Decimal(0) if failed else price.kie_credits,
                kie_cost_usd=Decimal(0) if failed else price.kie_credits * Decimal("0.005"),
                idempotency_key="overview-bench",
                callback_token=f"ovb{i}",
            )
        )
        if len(batch) == 5000:
            Generation.objects.bulk_create(batch)
            batch = []
    if batch:
        Generation.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        # Spread them over 29 days, each taking 5–60 s: one statement instead of 100,000 saves.
        cursor.execute(
            "UPDATE generation_generation SET "
            "created_at = now() - (id % 29) * interval '1 day' - (id % 1400) * interval '1 minute' "
            "- interval '1 minute', "
            "completed_at = now() - (id % 29) * interval '1 day' - (id % 1400) * interval '1 minute' "
            "- interval '1 minute' + (5 + id % 56) * interval '1 second' "
            "WHERE idempotency_key = 'overview-bench'"
        )
        cursor.execute("ANALYZE generation_generation")
    return time.monotonic() - began


def _staff_cookie():
    from django.conf import settings
    from django.test import Client

    from artio.models import User

    staff = User.objects.create_user(
        email="overview-staff@bench.example", password=None, is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(staff)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def _queries(cookies, params):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    for name, value in cookies.items():
        client.cookies[name] = value
    client.get("/admin/ops/overview/", params)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/admin/ops/overview/", params).status_code == 200
    return len(ctx.captured_queries)


def _timed(session, url, params):
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or "Operator overview" not in response.text:
            raise RuntimeError(f"overview answered {response.status_code}")
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "max_ms": times[-1],
    }


def main(*, base_url, n=N_GENERATIONS):
    seed_seconds = _seed(n=n)
    cookies = _staff_cookie()
    session = requests.Session()
    session.cookies.update(cookies)
    url = f"{base_url}/admin/ops/overview/"
    for _ in range(3):  # warm: each gunicorn worker's connection, the cached KIE balance
        session.get(url, params={"period": "30d"}, timeout=30)
    results = {
        "generations": n,
        "seed_seconds": seed_seconds,
        "month": _timed(session, url, {"period": "30d"}),
        "week": _timed(session, url, {"period": "7d"}),
        "statements": _queries(cookies, {"period": "30d"}),
        "target_ms": TARGET_MS,
    }
    print(
        f"overview at {n:,} generations: 30 days p50 {results['month']['p50_ms']:.0f} ms "
        f"(p95 {results['month']['p95_ms']:.0f} ms), 7 days p50 {results['week']['p50_ms']:.0f} ms; "
        f"{results['statements']} statements; seeded in {seed_seconds:.0f} s",
        flush=True,
    )
    return results
