"""Benchmark of the operator overview at 100,000 generations: the admin page over HTTP against gunicorn.

The generations are bulk-inserted over the last 29 days (so all of them fall in "the last 30 days")
across every model, with KIE's billed credits and cost, a share failed and refunded, and completion
times. Then the finished days are rolled up (ops/rollup.py), as the nightly job keeps them in
production, so the page reads the rollup for closed days and only today live. The page is fetched as a
signed-in staff member, first for the 30-day period, then for the 7-day one. The KIE balance it
shows comes from the simulator, cached for a minute as in
production. The query count is read in-process for the same page.
"""

import statistics
import time

import requests

N_GENERATIONS = 100_000
REPEAT = 20
TARGET_MS = 200


def _seed(*, n):
    """Insert `n` generations spread over models and the last 29 days; return how long it took.

    One template row is made through the ORM; PostgreSQL copies it n times (INSERT … SELECT over
    generate_series), varying the model, price, outcome, KIE cost and times, and copying every other
    column as it is, so fields added later need no change here.
    """
    from decimal import Decimal

    from django.db import connection

    from artio.models import User
    from billing.services import account_for_user
    from catalog.models import Price
    from generation.models import Generation, Status

    began = time.monotonic()
    user = User.objects.create_user(email="overview-owner@bench.example", password=None)
    prices = list(Price.objects.order_by("id"))
    first = prices[0]
    template = Generation.objects.create(
        owner=user,
        account=account_for_user(user=user),
        model_id=first.model_id,
        price=first,
        unit_credits=first.credits,
        credits_charged=first.credits,
        images_requested=1,
        input={"prompt": "overview bench"},
        status=Status.SUCCEEDED,
        idempotency_key="overview-bench",
    )
    k = len(prices)
    pick = "(ARRAY[{}])[1 + i % {}]"
    failed = "(i % 10 = 0)"
    credits = pick.format(",".join(str(p.credits) for p in prices), k)
    when = "now() - (i % 29) * interval '1 day' - (i % 1400) * interval '1 minute' - interval '1 minute'"
    varying = {
        "public_id": "'gen_B' || lpad(i::text, 25, '0')",
        "callback_token": "'overview-bench-' || i",
        "model_id": pick.format(",".join(str(p.model_id) for p in prices), k),
        "price_id": pick.format(",".join(str(p.pk) for p in prices), k),
        "unit_credits": credits,
        "credits_charged": credits,
        "status": f"CASE WHEN {failed} THEN 'failed' ELSE 'succeeded' END",
        "refunded": failed,
        "refunded_credits": f"CASE WHEN {failed} THEN {credits} ELSE 0 END",
        "kie_credits_billed": f"CASE WHEN {failed} THEN 0 ELSE "
        f"{pick.format(','.join(str(p.kie_credits) for p in prices), k)} END",
        "kie_cost_usd": f"CASE WHEN {failed} THEN 0 ELSE "
        f"{pick.format(','.join(str(p.kie_credits * Decimal('0.005')) for p in prices), k)} END",
        "created_at": when,
        "completed_at": f"{when} + (5 + i % 56) * interval '1 second'",
    }
    columns = [f.column for f in Generation._meta.concrete_fields if f.column != "id"]
    select = ", ".join(varying.get(column, f"t.{column}") for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO generation_generation ({', '.join(columns)}) "
            # Literal SQL (no driver parameters): its % are the modulo operator.
            f"SELECT {select} FROM generation_generation t, generate_series(1, {int(n) - 1}) AS i "
            f"WHERE t.id = {int(template.pk)}",
        )
        cursor.execute(f"UPDATE generation_generation SET created_at = now() - interval '1 minute', "
                       f"completed_at = now() WHERE id = {template.pk}")  # fmt: skip
        cursor.execute(
            "VACUUM ANALYZE generation_generation"
        ) if connection.in_atomic_block is False else None
    return time.monotonic() - began


def _rollup():
    """Roll up the seeded finished days as the nightly `ops-rollup` job would; return how long it took."""
    from datetime import timedelta

    from ops.rollup import rollup_days, today_utc

    began = time.monotonic()
    yesterday = today_utc() - timedelta(days=1)
    rollup_days(yesterday - timedelta(days=29), yesterday)
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
    rollup_seconds = _rollup()
    cookies = _staff_cookie()
    session = requests.Session()
    session.cookies.update(cookies)
    url = f"{base_url}/admin/ops/overview/"
    for _ in range(3):  # warm: each gunicorn worker's connection, the cached KIE balance
        session.get(url, params={"period": "30d"}, timeout=30)
    results = {
        "generations": n,
        "seed_seconds": seed_seconds,
        "rollup_seconds": rollup_seconds,
        "month": _timed(session, url, {"period": "30d"}),
        "week": _timed(session, url, {"period": "7d"}),
        "statements": _queries(cookies, {"period": "30d"}),
        "target_ms": TARGET_MS,
    }
    print(
        f"overview at {n:,} generations: 30 days p50 {results['month']['p50_ms']:.0f} ms "
        f"(p95 {results['month']['p95_ms']:.0f} ms), 7 days p50 {results['week']['p50_ms']:.0f} ms; "
        f"{results['statements']} statements; seeded in {seed_seconds:.0f} s, "
        f"rolled up in {rollup_seconds:.1f} s",
        flush=True,
    )
    return results
