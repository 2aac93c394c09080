"""How fast the partner API creates generations, next to an authenticated GET /api/v1/balance.

    .venv/bin/python bench/api_create.py [N]    # N requests per phase, 200 by default

Starts the app under gunicorn (2 workers × 8 threads, production settings) on a free port against
a throw-away SQLite database, gives one partner a key and credits, then alternates, in the same run,
N × GET /balance, N × POST /generations without and with an Idempotency-Key, at 8 and at 32
concurrent connections. Prints requests/s of each and the ratio create / balance. A measurement,
not a test: the client shares the machine's cores with the server, so run it twice.

No worker runs: each create only queues its dispatch (a django-q2 row in the same database).
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAST = "google/imagen4-fast"
CONCURRENCY = (8, 32)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup(env):
    """Migrate the throw-away database; return the raw API key of a premium partner with credits."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from artio.models import PartnerSettings, User
    from artio.services import api_key_create
    from billing.models import Account
    from billing.services import account_for_user, balance_adjust

    user = User.objects.create_user(email="bench@example.com", password="bench-password-123")
    account = account_for_user(user=user)
    Account.objects.filter(pk=account.pk).update(plan="premium")
    balance_adjust(account_id=account.pk, amount=100_000_000, reason="bench credits")
    _key, raw_key = api_key_create(user=user, name="bench")
    PartnerSettings.objects.filter(user=user).update(rate_limit_per_minute=10_000_000)
    return raw_key


def server_start(env, port):
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "artio.wsgi",
        "--worker-class",
        "gthread",
        "--workers",
        "2",
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def phase(*, base, raw_key, kind, total, concurrency):
    """Send `total` requests of `kind` over `concurrency` connections; return requests/s."""
    import requests

    counter = iter(range(total))
    lock = threading.Lock()
    failures = []
    barrier = threading.Barrier(concurrency + 1)

    def work():
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {raw_key}"
        barrier.wait()
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            if kind == "balance":
                response = session.get(f"{base}/api/v1/balance", timeout=60)
                expected = 200
            else:
                headers = {"Idempotency-Key": str(uuid.uuid4())} if kind == "create+key" else {}
                body = {"model": FAST, "input": {"prompt": f"bench {index}"}}
                response = session.post(f"{base}/api/v1/generations", json=body, headers=headers, timeout=60)
                expected = 202
            if response.status_code != expected:
                failures.append((response.status_code, response.text[:200]))

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        print(f"  {kind}: {len(failures)} failed, e.g. {failures[0]}")
    return total / elapsed


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    workdir = Path(tempfile.mkdtemp(prefix="artio-bench-api-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "artio.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "ARTIO_SANDBOX": "1",  # no KIE call is made; the sandbox only spares real keys
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "ARTIO_MEDIA_ROOT": str(workdir / "media"),
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    for name in ("REDIS_URL", "KIE_API_KEY", "STRIPE_SECRET_KEY"):
        env.pop(name, None)
    raw_key = setup(env)
    server = server_start(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        phase(base=base, raw_key=raw_key, kind="balance", total=50, concurrency=8)  # warm up
        phase(base=base, raw_key=raw_key, kind="create", total=50, concurrency=8)
        print(f"{total} requests per phase, gunicorn gthread 2 workers × 8 threads, SQLite")
        for concurrency in CONCURRENCY:
            rates = {
                kind: phase(base=base, raw_key=raw_key, kind=kind, total=total, concurrency=concurrency)
                for kind in ("balance", "create", "create+key")
            }
            print(
                f"c={concurrency:>2}: balance {rates['balance']:6.0f}/s  create {rates['create']:6.0f}/s "
                f"(×{rates['create'] / rates['balance']:.2f})  create+key {rates['create+key']:6.0f}/s "
                f"(×{rates['create+key'] / rates['balance']:.2f})"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
