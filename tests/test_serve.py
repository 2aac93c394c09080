"""`make run`'s web server for real: scripts/serve.sh (gunicorn, threads) on a temporary SQLite file.

64 partner clients at once get answers, not resets nor "database is locked"; a key's rate limit
holds across separate server processes (the cache is shared, not each process's memory).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 64
ROUNDS = 3
THROTTLED_RATE = 6

pytestmark = pytest.mark.server

# One process sets the database up through the documented commands, and prints the keys.
SETUP = f"""
import json, re
from io import StringIO
from django.core.management import call_command
from artio.models import User

def key_for(email, rate):
    User.objects.create_user(email=email, password="correct-horse-battery")
    call_command("grant_credits", email, "1000", "--reason", "load test", stdout=StringIO())
    out = StringIO()
    call_command("create_api_key", email, "--rate-limit", str(rate), stdout=out)
    return re.search(r"artio_\\S+", out.getvalue()).group()

print(json.dumps({{
    "load": key_for("load@example.com", 100_000),
    "throttled": key_for("throttled@example.com", {THROTTLED_RATE}),
}}))
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(database, media, **extra):
    env = {**os.environ, "DJANGO_DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}", **extra}
    env["ARTIO_MEDIA_ROOT"] = str(media)
    env.pop("REDIS_URL", None)
    return env


class Server:
    """scripts/serve.sh in its own process group, as scripts/run.sh starts it."""

    def __init__(self, env, log):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [shutil.which("sh"), "scripts/serve.sh", sys.executable],
            cwd=ROOT,
            env={**env, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )

    def wait_ready(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                # The first request loads Django in the worker, which takes a moment.
                requests.get(f"{self.url}/healthz", timeout=10)
                return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer in {seconds} s:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        """Stop it as Ctrl-C in `make run` does (TERM to the group); return its exit code."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two servers on one fresh SQLite database, and the keys {"load", "throttled"}."""
    folder = tmp_path_factory.mktemp("served")
    env = server_env(folder / "db.sqlite3", folder / "media")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input"], cwd=ROOT, env=env, check=True, capture_output=True)
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    keys = json.loads(setup.stdout.strip().splitlines()[-1])
    servers = [Server(env, folder / f"gunicorn-{n}.log") for n in (1, 2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers, keys
    finally:
        exit_codes = [server.stop() for server in servers]
    assert exit_codes == [0, 0], "gunicorn did not stop cleanly on TERM"


def test_64_concurrent_api_clients_all_get_200(served):
    # given 64 clients, each with its own connection, released at the same instant
    (server, _other), keys = served
    headers = {"Authorization": f"Bearer {keys['load']}"}
    quote = {"model": "google/imagen4-fast", "input": {"prompt": "a fox", "num_images": 1}}
    start = threading.Barrier(CLIENTS)
    results, failures = [], []

    def client():
        with requests.Session() as session:
            start.wait()
            for _ in range(ROUNDS):
                try:
                    balance = session.get(f"{server.url}/api/v1/balance", headers=headers, timeout=30)
                    priced = session.post(
                        f"{server.url}/api/v1/quotes", json=quote, headers=headers, timeout=30
                    )
                except requests.RequestException as exc:  # a reset connection lands here
                    failures.append(repr(exc))
                    return
                results.extend(
                    [(balance.status_code, balance.text[:200]), (priced.status_code, priced.text[:200])]
                )

    # when they all call the API a few times
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then every request was answered, and answered 200
    assert failures == []
    assert len(results) == CLIENTS * ROUNDS * 2
    assert [result for result in results if result[0] != 200] == []


def test_rate_limit_holds_across_server_processes(served):
    # given a key allowed THROTTLED_RATE requests a minute, and two separate servers
    servers, keys = served
    headers = {"Authorization": f"Bearer {keys['throttled']}"}

    # when its requests alternate between the servers (a new connection each time)
    statuses = [
        requests.get(f"{servers[n % 2].url}/api/v1/balance", headers=headers, timeout=10).status_code
        for n in range(THROTTLED_RATE + 1)
    ]

    # then the limit is the account's, not each process's: one more than it is refused
    assert statuses == [200] * THROTTLED_RATE + [429]


def test_static_files_and_healthz_are_served_by_gunicorn(served):
    (server, _other), _keys = served

    stylesheet = requests.get(f"{server.url}/static/css/artio.css", timeout=10)
    health = requests.get(f"{server.url}/healthz", timeout=10)

    assert stylesheet.status_code == 200
    assert stylesheet.headers["Content-Type"].startswith("text/css")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
