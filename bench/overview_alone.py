"""The overview part of `make bench` on its own, at full size: 100,000 generations, over HTTP.

For measuring the overview without the hour of the other parts. Uses its own throw-away PostgreSQL
database (BENCH_OVERVIEW_DB, default artio_bench_overview_<pid>) and Redis DB (BENCH_REDIS_DB, default
14), gunicorn as scripts/serve.sh starts it, and the KIE simulator for the balance. Prints the figures
as JSON; writes nothing in docs/.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench import procs  # noqa: E402
from bench.run import PG_SERVER, free_port, pg_admin  # noqa: E402


def main():
    dbname = os.environ.get("BENCH_OVERVIEW_DB", f"artio_bench_overview_{os.getpid()}")
    redis_url = f"redis://127.0.0.1:6379/{int(os.environ.get('BENCH_REDIS_DB', '14'))}"
    n = int(os.environ.get("BENCH_OVERVIEW_ROWS", "100000"))
    workdir = Path(tempfile.mkdtemp(prefix="artio-bench-overview-"))
    pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{dbname}"')
    from generation.kie_sandbox.core import KieSandbox

    sandbox = KieSandbox(port=0, seed=1).start()
    port = free_port()
    for name in ("KIE_API_KEY", "STRIPE_SECRET_KEY", "Q_CLUSTER_NAME", "AWS_STORAGE_BUCKET_NAME"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="artio.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=f"{PG_SERVER}/{dbname}",
        REDIS_URL=redis_url,
        ARTIO_MEDIA_ROOT=str(workdir / "media"),
        KIE_API_BASE=sandbox.base_url,
        KIE_UPLOAD_BASE=sandbox.base_url,
        ARTIO_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        DJANGO_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    web = None
    try:
        call_command("migrate", verbosity=0)
        web, base_url = procs.web_start(env=dict(os.environ), port=port, log=workdir / "web.log")
        from bench import overview

        print(json.dumps(overview.main(base_url=base_url, n=n), indent=1), flush=True)
    finally:
        if web is not None:
            web.stop()
        sandbox.stop()
        connections.close_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
