"""`make bench`: run the benchmarks on a throw-away database against the KIE sandbox.

SQLite in a temporary folder by default; set BENCH_DATABASE_URL (e.g. a PostgreSQL database of
your own) to measure there instead. The worker (`qcluster`) runs as a separate process.
"""

import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    workdir = Path(tempfile.mkdtemp(prefix="artio-bench-"))
    port = free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "artio.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "ARTIO_MEDIA_ROOT": str(workdir / "media"),
        "KIE_API_BASE": f"http://127.0.0.1:{port}",
        "KIE_UPLOAD_BASE": f"http://127.0.0.1:{port}",
        "KIE_CREATE_RATE": os.environ.get("KIE_CREATE_RATE", "20/10s"),
        # Callbacks are not needed to time dispatch; port 9 refuses them at once.
        "ARTIO_PUBLIC_URL": "http://127.0.0.1:9",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    for name in ("KIE_API_KEY", "REDIS_URL", "STRIPE_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(env)
    child_env = dict(os.environ)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The no-op baseline answers 404 on purpose; don't print a warning for each.
    logging.getLogger("django.request").setLevel(logging.ERROR)

    from generation.kie_sandbox.core import KieSandbox

    sandbox = KieSandbox(port=port, latency=(0.5, 1.0), create_rate=(20, 10.0), seed=1).start()
    sandbox.callbacks_enabled = False
    try:
        from bench import gallery, generation

        results = generation.main(sandbox=sandbox, env=child_env)
        gallery.main(user=results["user"])
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
