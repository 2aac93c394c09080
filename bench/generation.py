"""Benchmark of the generation path: submissions per second and queue latency, with baselines.

Measured in one run, on one database, against the KIE sandbox over real HTTP:

1. baseline A — the bare ledger charge (`credits_charge` in a transaction): the floor of any paid
   submission;
2. baseline B — a near no-op request through the whole middleware stack (a KIE callback with an
   unknown token: one indexed query, 404);
3. submissions per second through the web form path (signed-in POST /generate/ → validation,
   quote, charge, create, enqueue to django-q2's real broker, redirect), and the same path with
   the dispatch enqueued after the commit instead of inside the transaction (the old way, for
   comparison);
4. queue latency, enqueue → KIE createTask, through a real `qcluster` worker process: one
   submission at a time (the idle latency), then a burst larger than KIE's 20-per-10-s budget (the
   smoothing the rate limiter adds).

Run it with `make bench` (bench/run.py prepares a throw-away database and calls `main`).
"""

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = "google/imagen4-fast"


def _rate(count, seconds):
    return count / seconds if seconds else float("inf")


def _pct(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench_ledger_charge(*, account, n):
    from django.db import transaction

    from billing.services import credits_charge

    started = time.perf_counter()
    for i in range(n):
        with transaction.atomic():
            credits_charge(account_id=account.pk, amount=1, reference=f"bench-charge-{time.time_ns()}-{i}")
    return _rate(n, time.perf_counter() - started)


def bench_noop_view(*, client, n):
    started = time.perf_counter()
    for _ in range(n):
        response = client.post(
            "/generation/kie/callback/bench-unknown-token/", b"{}", content_type="application/json"
        )
        assert response.status_code == 404
    return _rate(n, time.perf_counter() - started)


def bench_form_submissions(*, client, n):
    from generation.models import Generation

    before = Generation.objects.count()
    started = time.perf_counter()
    for i in range(n):
        response = client.post(
            "/generate/",
            {"model": FAST, "prompt": f"benchmark image {i}", "num_images": "1", "aspect_ratio": "1:1"},
        )
        assert response.status_code == 302, response.status_code
    elapsed = time.perf_counter() - started
    assert Generation.objects.count() - before == n
    return _rate(n, elapsed)


def bench_form_enqueue_after_commit(*, client, n):
    """The form path as it was: the dispatch enqueued after commit, outside any transaction.

    There django-q2's ORM broker first calls close_old_connections(), so with CONN_MAX_AGE = 0
    each submission closes and reopens its database connection one more time.
    """
    from generation import pipeline

    in_transaction = pipeline.broker_in_database
    pipeline.broker_in_database = lambda: False
    try:
        return bench_form_submissions(client=client, n=n)
    finally:
        pipeline.broker_in_database = in_transaction


def _latencies(sandbox, generations):
    from generation.models import Generation

    out = []
    for generation in Generation.objects.filter(pk__in=[g.pk for g in generations]):
        task = sandbox.tasks.get(generation.kie_task_id)
        if task is not None:
            out.append(task.created - generation.created_at.timestamp())
    return out


def _wait_submitted(generations, timeout):
    from generation.models import Generation, Status

    ends = time.monotonic() + timeout
    ids = [g.pk for g in generations]
    while time.monotonic() < ends:
        if not Generation.objects.filter(pk__in=ids, status=Status.QUEUED).exists():
            return True
        time.sleep(0.05)
    return False


def bench_queue_latency(*, user, sandbox, singles, burst, env):
    """Start a real worker (`manage.py qcluster`) and time enqueue → createTask."""
    from generation import services

    # Our own manage.py with our own interpreter; dispatch runs on its own cluster.
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        cwd=ROOT,
        env={**env, "Q_CLUSTER_NAME": "dispatch"},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # let the cluster start its workers
        idle = []
        for i in range(singles):
            generation = services.generation_create(
                user=user, model_slug=FAST, data={"prompt": f"single {i}"}
            )
            if not _wait_submitted([generation], 30):
                raise RuntimeError("the worker did not dispatch a generation within 30 s")
            idle += _latencies(sandbox, [generation])
            time.sleep(0.6)  # stay well under the rate: this measures the idle path
        # let the window empty before the burst
        time.sleep(11)
        made = [
            services.generation_create(user=user, model_slug=FAST, data={"prompt": f"burst {i}"})
            for i in range(burst)
        ]
        _wait_submitted(made, 120)
        burst_latency = _latencies(sandbox, made)
        stamps = sorted(t.created for t in sandbox.tasks.values())
        return idle, burst_latency, stamps
    finally:
        # The cluster forks workers; stop the whole process group we started, and only it.
        os.killpg(worker.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main(*, sandbox, env, n_charge=500, n_view=500, n_form=300, singles=10, burst=40):
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from artio.models import User
    from billing.services import account_for_user, balance_adjust

    user = User.objects.create_user(email=f"bench-{time.time_ns()}@example.com", password="bench-password-1")
    account = account_for_user(user=user)
    balance_adjust(account_id=account.pk, amount=10_000_000, reason="benchmark")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    results = {
        "machine": machine(),
        "database": connection.vendor,
        "rate": settings.KIE_CREATE_RATE,
        "user": user,
    }
    print(f"machine: {results['machine']}; database: {results['database']}")
    results["charge_per_s"] = bench_ledger_charge(account=account, n=n_charge)
    print(f"baseline A, bare ledger charge: {results['charge_per_s']:.0f}/s")
    results["noop_per_s"] = bench_noop_view(client=client, n=n_view)
    print(f"baseline B, near no-op request: {results['noop_per_s']:.0f}/s")
    results["form_per_s"] = bench_form_submissions(client=client, n=n_form)
    print(f"web form submissions: {results['form_per_s']:.0f}/s")
    print(
        f"  = {results['form_per_s'] / results['charge_per_s']:.2f} × the bare charge, "
        f"{results['form_per_s'] / results['noop_per_s']:.2f} × the no-op request"
    )
    results["form_after_commit_per_s"] = bench_form_enqueue_after_commit(client=client, n=n_form)
    print(f"  the same with the dispatch enqueued after commit: {results['form_after_commit_per_s']:.0f}/s")
    # The form's submissions wait in the queue; cancel (and refund) them and drop their queued
    # tasks, so the latency test measures only its own generations.
    from django_q.models import OrmQ

    from generation import services
    from generation.models import Generation, Status

    for pk in Generation.objects.filter(status=Status.QUEUED).values_list("pk", flat=True):
        services.generation_cancel(generation_id=pk)
    OrmQ.objects.all().delete()
    idle, burst_lat, stamps = bench_queue_latency(
        user=user, sandbox=sandbox, singles=singles, burst=burst, env=env
    )
    results.update(
        idle_p50=_pct(idle, 50),
        idle_max=max(idle) if idle else float("nan"),
        burst=burst,
        burst_p50=_pct(burst_lat, 50),
        burst_p95=_pct(burst_lat, 95),
        burst_max=max(burst_lat) if burst_lat else float("nan"),
        burst_sent=len(burst_lat),
        rejected=sandbox.rejected_creates,
        max_per_window=_max_in_window(stamps, 10.0),
    )
    print(
        f"queue latency, idle (n={len(idle)}): p50 {results['idle_p50'] * 1000:.0f} ms, "
        f"max {results['idle_max'] * 1000:.0f} ms"
    )
    print(
        f"queue latency, burst of {burst} at {settings.KIE_CREATE_RATE}: p50 {results['burst_p50']:.1f} s, "
        f"p95 {results['burst_p95']:.1f} s, max {results['burst_max']:.1f} s; "
        f"sent {results['burst_sent']}, KIE 429s {results['rejected']}, "
        f"most createTask in any 10 s {results['max_per_window']}"
    )
    return results


def _max_in_window(stamps, window):
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
