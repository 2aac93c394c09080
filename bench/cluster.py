"""`make test-cluster`: Artio on two web hosts and two worker hosts, proven by a burst with failures.

What runs (each "host" is its own processes in its own temporary working directory and MEDIA_ROOT;
nothing local is shared, so images must go through S3):

    web A, web B        scripts/serve.sh (gunicorn) on two ports
    worker 1, worker 2  every `manage.py qcluster` scripts/run.sh starts (the default cluster and the
                        createTask dispatcher's), per host
    S3                  moto's server mode over HTTP (AWS_S3_ENDPOINT_URL); the bucket is made here
    KIE                 the simulator as a process of its own (bench/kie_process.py), with its cap
    PostgreSQL, Redis   the machine's own (127.0.0.1:5432 and :6379): a throw-away database
                        artio_cluster_<pid> and Redis DB CLUSTER_REDIS_DB (default 14, flushed)

A burst of CLUSTER_N (500) generations goes round-robin to A and B through the partner API; half
way, worker 2 is killed with SIGKILL (every process of the host at once) and B is stopped (SIGTERM;
its clients fail over to A with the same Idempotency-Key, as behind a load balancer). Then
bench/cluster_checks.py checks the outcome and prints the figures; any failed check exits 1.
Only moto, the simulator, the gunicorns and the qclusters are started, and all of them are stopped
on the way out, whatever happened.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench import procs  # noqa: E402
from bench.cluster_probe import PROBES  # noqa: E402

BEGAN = time.time()
N = int(os.environ.get("CLUSTER_N", "500"))
PG_SERVER = os.environ.get("CLUSTER_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_DB = int(os.environ.get("CLUSTER_REDIS_DB", "14"))
# KIE's real cap is 20 per 10 s; 50 per 5 s keeps 500 generations near a minute of dispatch while the
# window still turns over a dozen times. Both sides (simulator and KIE_CREATE_RATE) use it.
CAP = (50, 5.0)
SANDBOX_LATENCY = "1-3"
# The burst is paced (open loop) a little above the dispatch rate, so the failures half way hit a
# cluster that is dispatching, calling back and storing at once.
BURST_PER_S = float(os.environ.get("CLUSTER_BURST_PER_S", "15"))
CLIENTS = 12
# django-q2 worker processes per qcluster (ARTIO_Q_WORKERS): storing a result waits on KIE and S3
# more than it computes, so a worker host runs more than it has cores.
Q_WORKERS = os.environ.get("CLUSTER_Q_WORKERS", "4")
ACCOUNTS = 8
TERMINAL_TIMEOUT = float(os.environ.get("CLUSTER_TIMEOUT", "330"))
# Scheduled jobs are checked over at least this many of the probe's one-minute periods.
MIN_PERIODS = int(os.environ.get("CLUSTER_MIN_PERIODS", "3"))
MODEL = "google/imagen4-fast"
BUCKET = "artio-cluster-test"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url, *, proc, what, timeout=60):
    import requests

    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start")
        with contextlib.suppress(requests.RequestException):
            requests.get(url, timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout} s")


class Cluster:
    """Everything the test starts, so that `stop()` can end all of it, in any state."""

    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix="artio-cluster-"))
        self.dbname = f"artio_cluster_{os.getpid()}"
        self.redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
        self.db_made = False
        self.services = []  # (label, Popen) of moto and the simulator
        self.groups = []  # procs.Group of every host process
        self.hosts = {}  # name -> {"dir", "media", "groups", "url"?}
        self.kie_log = self.work / "kie-log.json"
        self.kie = None

    def log(self, name):
        return self.work / f"{name}.log"

    # --- the shared services ------------------------------------------------------------------

    def _service(self, label, argv, env=None):
        cwd = self.work / label
        cwd.mkdir()
        out = open(self.log(label), "ab")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.services.append((label, proc))
        return proc

    def services_start(self):
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()
        pg_admin(f'CREATE DATABASE "{self.dbname}"')
        self.db_made = True
        s3_port, kie_port = free_port(), free_port()
        moto = self._service(
            "s3", [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)]
        )
        self.s3_url = f"http://127.0.0.1:{s3_port}"
        wait_http(self.s3_url, proc=moto, what="moto_server")
        self.kie = self._service(
            "kie",
            [
                procs.PY,
                str(ROOT / "bench" / "kie_process.py"),
                "--port",
                str(kie_port),
                "--rate",
                f"{CAP[0]}/{CAP[1]:g}",
                "--latency",
                SANDBOX_LATENCY,
                "--log",
                str(self.kie_log),
            ],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "artio.settings", "DJANGO_DEBUG": "1"},
        )
        self.kie_url = f"http://127.0.0.1:{kie_port}"
        wait_http(f"{self.kie_url}/api/v1/chat/credit", proc=self.kie, what="the KIE simulator")

    def env(self, **extra):
        """The environment every host gets: the same settings, pointing at the shared services only."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIE_", "STRIPE_", "Q_CLUSTER"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="artio.settings",
            DJANGO_DEBUG="1",
            DJANGO_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),  # the release's code; the working directory is the host's own
            DATABASE_URL=f"{PG_SERVER}/{self.dbname}",
            REDIS_URL=self.redis_url,
            AWS_STORAGE_BUCKET_NAME=BUCKET,
            AWS_S3_ENDPOINT_URL=self.s3_url,
            AWS_ACCESS_KEY_ID="cluster-test",
            AWS_SECRET_ACCESS_KEY="cluster-test",
            AWS_DEFAULT_REGION="us-east-1",
            KIE_API_BASE=self.kie_url,
            KIE_UPLOAD_BASE=self.kie_url,
            KIE_CREATE_RATE=f"{CAP[0]}/{CAP[1]:g}s",
            ARTIO_Q_WORKERS=Q_WORKERS,
        )
        env.update(extra)
        return env

    def host_env(self, base, name, public_url):
        # HOME too: a host's own dot-files (gunicorn's, Python's) must not be another host's.
        return self.env(
            HOME=str(base),
            ARTIO_MEDIA_ROOT=str(base / "media"),
            ARTIO_PUBLIC_URL=public_url,
            ARTIO_TEST_HOST=name,
        )

    def host_dir(self, name):
        base = self.work / name
        (base / "media").mkdir(parents=True)
        return base

    # --- the hosts ------------------------------------------------------------------------------

    def web_start(self, name, *, port, public_url):
        base = self.host_dir(name)
        env = self.env(
            ARTIO_MEDIA_ROOT=str(base / "media"), ARTIO_PUBLIC_URL=public_url, ARTIO_TEST_HOST=name
        )
        group, url = procs.web_start(env=env, port=port, log=self.log(name), cwd=base, label=name)
        self.groups.append(group)
        self.hosts[name] = {"dir": base, "groups": [group], "url": url}
        return url

    def worker_start(self, name, *, q_cluster, public_url):
        base = self.host_dir(name)
        env = self.env(
            ARTIO_MEDIA_ROOT=str(base / "media"), ARTIO_PUBLIC_URL=public_url, ARTIO_TEST_HOST=name
        )
        groups = procs.workers_start(
            env=env, q_cluster=q_cluster, log=self.log(name), cwd=base, label=f"{name} "
        )
        self.groups += groups
        self.hosts[name] = {"dir": base, "groups": groups}
        return groups

    def kie_stop(self):
        """Stop the simulator so that it writes its task log; return the log."""
        if self.kie is not None and self.kie.poll() is None:
            self.kie.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.kie.wait(timeout=15)
        if not self.kie_log.exists():
            raise RuntimeError(f"the KIE simulator wrote no task log; see {self.log('kie')}")
        return json.loads(self.kie_log.read_text())

    def stop(self):
        for group in self.groups:
            with contextlib.suppress(Exception):
                group.stop()
        for _label, proc in self.services:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        if self.db_made:
            with contextlib.suppress(Exception):  # the pool may still hold a connection; FORCE drops it
                pg_admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            redis.Redis.from_url(self.redis_url).flushdb()


def pg_admin(sql):
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def probe_schedules():
    """Add the every-minute scheduled probes (bench/cluster_probe.py), first due over the next minute."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    from bench.cluster_probe import PROBES, SCHEDULE_NAME

    now = timezone.now()
    for k in range(PROBES):
        name = f"{SCHEDULE_NAME}-{k}"
        Schedule.objects.create(
            name=name,
            func="bench.cluster_probe.tick",
            args=repr(name),
            schedule_type=Schedule.MINUTES,
            minutes=1,
            repeats=-1,
            next_run=now + timedelta(seconds=10 + k * 60 / PROBES),
            intended_date_kwarg="intended",
        )


class Burst:
    """CLUSTER_N creates, round-robin over the web hosts, paced; a host that is gone fails over."""

    def __init__(self, *, urls, keys, on_half):
        self.urls, self.keys, self.on_half = urls, keys, on_half
        self.sent = 0
        self.retried = 0  # requests answered only on a second try
        self.codes = {}
        self.created = []  # generation ids answered
        self.errors = []
        self._lock = threading.Lock()
        self._half = threading.Event()

    def _post(self, session, url, i, idem):
        body = json.dumps({"model": MODEL, "input": {"prompt": f"cluster test {i}"}})
        headers = {
            "Authorization": f"Bearer {self.keys[i % len(self.keys)]}",
            "Content-Type": "application/json",
            "Idempotency-Key": idem,
        }
        return session.post(f"{url}/api/v1/generations", data=body, headers=headers, timeout=60)

    def one(self, sessions, i):
        """Send request i to its host; on a dropped connection or a 5xx retry, the other host first,
        with the same Idempotency-Key (a load balancer and a careful client do both)."""
        import requests

        idem = f"cl-{i}-{uuid.uuid4().hex[:8]}"
        first = self.urls[i % len(self.urls)]
        order = [first, *[u for u in self.urls if u != first]] * 2
        for attempt, url in enumerate(order):
            try:
                answer = self._post(sessions[url], url, i, idem)
            except requests.ConnectionError:
                time.sleep(0.1 * attempt)
                continue  # that host is gone, or closed an idle keep-alive connection as we sent
            if answer.status_code >= 500 and attempt + 1 < len(order):
                continue
            with self._lock:
                self.retried += bool(attempt)
                self.codes[answer.status_code] = self.codes.get(answer.status_code, 0) + 1
                if answer.status_code == 202:
                    self.created.append(answer.json()["id"])
                else:
                    self.errors.append(f"{answer.status_code} {answer.text[:200]}")
            return
        with self._lock:
            self.errors.append(f"request {i}: no web host answered in {len(order)} tries")

    def run(self):
        import requests

        started = time.monotonic()
        counter = iter(range(N))
        count_lock = threading.Lock()

        def client():
            sessions = {url: requests.Session() for url in self.urls}
            while True:
                with count_lock:
                    i = next(counter, None)
                if i is None:
                    return
                delay = started + i / BURST_PER_S - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if i == N // 2 and not self._half.is_set():
                    self._half.set()
                    threading.Thread(target=self.on_half, daemon=True).start()
                self.one(sessions, i)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started


def _interrupted(*_):
    raise KeyboardInterrupt("stopped by SIGTERM")


def main():
    cluster = Cluster()
    print(f"cluster test: {N} generations, KIE cap {CAP[0]}/{CAP[1]:g}s; logs in {cluster.work}", flush=True)
    # CI giving up on the job (SIGTERM) must still stop every process started here.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        outcome = run(cluster)
    except BaseException as exc:  # Ctrl-C and SIGTERM too: report, then clean up below
        print(f"\nCLUSTER TEST FAILED: {type(exc).__name__}: {exc}\n(logs in {cluster.work})", flush=True)
        raise SystemExit(1) from exc
    finally:
        cluster.stop()
    from bench import cluster_checks

    failed = cluster_checks.report(outcome)
    if failed:
        print(f"\nCLUSTER TEST FAILED: {', '.join(failed)} (logs in {cluster.work})", flush=True)
        raise SystemExit(1)
    print(f"\ncluster test passed in {time.time() - BEGAN:.0f} s", flush=True)


def run(cluster):
    cluster.services_start()
    os.environ.update(cluster.env())
    import django

    django.setup()
    from django.conf import settings

    procs.manage(["migrate", "--no-input"], env=dict(os.environ))
    import boto3

    boto3.client("s3", endpoint_url=cluster.s3_url).create_bucket(Bucket=BUCKET)
    from bench import appctl

    keys = appctl.accounts_make(n=ACCOUNTS, prefix="cluster")

    port_a, port_b = free_port(), free_port()
    # KIE calls back the host that stays up (in production: the load balancer's address).
    public = f"http://127.0.0.1:{port_a}"
    probe_schedules()
    print("starting web A, web B, worker 1, worker 2 (each in its own directory)", flush=True)
    cluster.worker_start("worker-1", q_cluster=settings.Q_CLUSTER, public_url=public)
    cluster.worker_start("worker-2", q_cluster=settings.Q_CLUSTER, public_url=public)
    with ThreadPoolExecutor(2) as pool:  # both web hosts boot at once, as a rollout would start them
        url_a, url_b = pool.map(
            lambda pair: cluster.web_start(pair[0], port=pair[1], public_url=public),
            [("web-a", port_a), ("web-b", port_b)],
        )
    # Every probe is due by now: the two schedulers' first passes race for all six of them, and
    # the burst starts only once they ran, so the check sees runs while both worker hosts live.
    wait_ticks(PROBES)
    started = time.time()
    events = {"started": started}
    print(f"    hosts up {started - BEGAN:.0f} s after the start", flush=True)

    def half_way():
        victim, holder = lease_holder_host(cluster)
        events.update(lease_holder_at_kill=holder, killed_host=victim, killed_at=time.time())
        for group in cluster.hosts[victim]["groups"]:
            events.setdefault("killed_pids", []).extend(group.pids())
            group.kill()
        print(
            f"    half way: SIGKILL {victim} (dispatcher lease: {holder or 'free'}); stopping web B",
            flush=True,
        )
        cluster.hosts["web-b"]["groups"][0].stop()
        events["web_b_stopped_at"] = time.time()

    burst = Burst(urls=[url_a, url_b], keys=keys, on_half=half_way)
    print(f"burst of {N} at {BURST_PER_S:g}/s round-robin to {url_a} and {url_b}", flush=True)
    burst_seconds = burst.run()
    print(
        f"    sent in {burst_seconds:.1f} s: {burst.codes}, {burst.retried} answered on a retry", flush=True
    )
    terminal_after = wait_terminal(started, expected=len(set(burst.created)), timeout=TERMINAL_TIMEOUT)
    wait_periods(MIN_PERIODS)
    from bench import cluster_checks

    print(f"    gathering what to check, {time.time() - BEGAN:.0f} s after the start", flush=True)
    outcome = cluster_checks.gather(
        cluster=cluster,
        burst=burst,
        events=events,
        keys=keys,
        survivor=url_a,
        terminal_after=terminal_after,
        cap=CAP,
    )
    # Last: the simulator writes its task log when stopped; nothing may call KIE after this.
    for group in cluster.groups:
        group.stop()
    outcome["kie"] = cluster.kie_stop()
    return outcome


def lease_holder_host(cluster, *, wait=10.0):
    """Return (worker host, holder) of the dispatcher lease: the host to kill, so that the survivor
    must take the lease over. Waits a little for a holder; with none, worker-2 is the victim."""
    from django.utils import timezone

    from generation.models import DispatchState

    ends = time.monotonic() + wait
    while time.monotonic() < ends:
        held = DispatchState.objects.filter(pk=1, dispatcher_until__gt=timezone.now())
        holder = held.values_list("dispatcher_id", flat=True).first() or ""
        pid = holder.split("/")[1] if holder.count("/") == 2 else ""
        for name, host in cluster.hosts.items():
            if name.startswith("worker") and any(str(p) == pid for g in host["groups"] for p in g.pids()):
                return name, holder
        time.sleep(0.1)
    return "worker-2", ""


def wait_terminal(started, *, expected, timeout):
    """Wait until every generation in the database is terminal (and at least `expected` exist)."""
    from generation.models import TERMINAL_STATUSES, Generation

    ends = time.monotonic() + timeout
    last = -1
    while time.monotonic() < ends:
        done = Generation.objects.filter(status__in=TERMINAL_STATUSES).count()
        total = Generation.objects.count()
        if done != last:
            print(f"    {done}/{total} terminal after {time.time() - started:.0f} s", flush=True)
            last = done
        if total >= expected and done >= total:
            return time.time() - started
        time.sleep(3)
    return None


def wait_ticks(n, timeout=150):
    import redis
    from django.conf import settings

    from bench.cluster_probe import TICKS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    ends = time.monotonic() + timeout
    while client.llen(TICKS_KEY) < n and time.monotonic() < ends:
        time.sleep(1)


def wait_periods(n):
    """Let the every-minute probe run `n` periods, so the schedule is checked across the kill too."""
    import redis
    from django.conf import settings

    from bench.cluster_probe import PROBES, TICKS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    ends = time.monotonic() + 60 * (n + 1)
    while client.llen(TICKS_KEY) < n * PROBES and time.monotonic() < ends:
        time.sleep(2)


if __name__ == "__main__":
    main()
