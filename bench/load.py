"""HTTP load as partners make it: keep-alive sessions on threads, closed loop or a fixed-rate schedule."""

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

MODEL = "google/imagen4-fast"
CREATE_BODY = json.dumps({"model": MODEL, "input": {"prompt": "a benchmark fox"}}).encode()


def pct(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values):
    return pct(values, 50)


class Api:
    """The two requests compared: an authenticated balance read, and a generation create."""

    def __init__(self, base_url):
        self.base = base_url

    def balance(self, session, key, _tag):
        return session.get(
            f"{self.base}/api/v1/balance", headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def create(self, session, key, tag):
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            # Unique per request; the tag lets the benchmark count the rows each round really made.
            "Idempotency-Key": f"{tag}-{uuid.uuid4().hex}",
        }
        return session.post(f"{self.base}/api/v1/generations", data=CREATE_BODY, headers=headers, timeout=60)


def closed_loop(send, *, keys, conc, seconds, tag):
    """Run `conc` clients back to back for `seconds`; client i uses keys[i % len(keys)].

    Return {"seconds", "codes": Counter, "ok": 2xx count, "lat": [s]}.
    """
    codes, lat = Counter(), []
    lock = threading.Lock()
    sessions = [requests.Session() for _ in range(conc)]
    ready = threading.Barrier(conc + 1)
    window = {}

    def client(i):
        session, key = sessions[i], keys[i % len(keys)]
        mine, my_lat = Counter(), []
        ready.wait()
        ends = window["ends"]
        while True:
            started = time.perf_counter()
            if started >= ends:
                break
            try:
                status = send(session, key, tag).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            my_lat.append(time.perf_counter() - started)
            mine[status] += 1
        with lock:
            codes.update(mine)
            lat.extend(my_lat)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(conc)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    window["ends"] = started + seconds
    ready.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started  # includes the requests in flight at the end
    for session in sessions:
        session.close()
    ok = sum(n for code, n in codes.items() if isinstance(code, int) and 200 <= code < 300)
    return {"seconds": elapsed, "codes": codes, "ok": ok, "lat": lat}


def open_loop(send, *, keys, rate, seconds, tag, pool=128):
    """Start request i at t0 + i/rate whatever happened to the others; time each from its schedule.

    The latency so includes any wait for a free client thread (queueing counts, as for a user).
    """
    n = int(rate * seconds)
    results = [None] * n
    local = threading.local()

    def job(i, scheduled):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            status = send(session, keys[i % len(keys)], tag).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        results[i] = (time.perf_counter() - scheduled, status)

    with ThreadPoolExecutor(pool, thread_name_prefix="open-loop") as executor:
        t0 = time.perf_counter() + 0.2
        late = 0
        for i in range(n):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.005:
                late += 1  # the schedule itself slipped (client CPU); still timed from `scheduled`
            executor.submit(job, i, scheduled)
    lat = [r[0] for r in results if r]
    codes = Counter(r[1] for r in results if r)
    return {"n": n, "lat": lat, "codes": codes, "late_starts": late}
