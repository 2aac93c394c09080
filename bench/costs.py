"""What a request costs, for the figures that miss: SQL statements per request and a cProfile.

py-spy is not installed, so the profile is cProfile of the same two API requests run in this
process through Django's test client (the whole middleware and DRF stack, on the same PostgreSQL
and Redis as the server), not of a gunicorn worker; the statement counts are exact either way.
"""

import cProfile
import io
import pstats
import time
import uuid
from pathlib import Path

from .load import CREATE_BODY

ROOT = Path(__file__).resolve().parent.parent


def _client():
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1")


def statements(*, key):
    """Return {request: (statements, [sql…])} for one balance read and one create."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    out = {}
    # A first call of each warms the caches and the connection, as a long-running server has them.
    client.get("/api/v1/balance", **auth)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/balance", **auth).status_code == 200
    out["balance"] = [q["sql"] for q in ctx.captured_queries]
    client.post(
        "/api/v1/generations",
        CREATE_BODY,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"prof-{uuid.uuid4().hex}",
        **auth,
    )
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(
            "/api/v1/generations",
            CREATE_BODY,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"prof-{uuid.uuid4().hex}",
            **auth,
        )
        assert response.status_code == 202, response.status_code
    out["create"] = [q["sql"] for q in ctx.captured_queries]
    return out


def profile_creates(*, key, n=100, top=18):
    """cProfile `n` creates; return (ms per create, the top functions by cumulative time as text)."""
    client = _client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(n):
        client.post(
            "/api/v1/generations",
            CREATE_BODY,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"prof-{uuid.uuid4().hex}",
            **auth,
        )
    profiler.disable()
    per_request_ms = (time.perf_counter() - started) / n * 1000
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    # Our own functions by cumulative time (where the request's time goes, per layer of the app),
    # then every function by its own time (what the time is spent doing: waiting on sockets, hashing…).
    stats.sort_stats("cumulative").print_stats(rf"{ROOT}/(artio|billing|catalog|generation)/", top)
    stats.sort_stats("tottime").print_stats(top)
    site = str(_site())
    lines = [
        line.replace(site + "/", "").replace(f"{ROOT}/", "")
        for line in text.getvalue().splitlines()
        if line.strip() and not line.startswith(("   Ordered by", "   List reduced"))
    ]
    return per_request_ms, "\n".join(line for line in lines if "function calls" not in line)


def _site():
    import django

    return Path(django.__file__).parent.parent
