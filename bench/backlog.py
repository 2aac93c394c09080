"""Part 5: a backlog of 1,000 generations, dispatched by the real workers to the KIE simulator.

Measured from the simulator's side: the timestamps of the createTask calls it accepted (against
its cap), its 429s, and for each task the moment it finished; the store lag of a generation is its
`images_stored_at` minus that moment (the callback, the re-read and the image download in between).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from .load import Api, pct


def leftovers_clear(*, clusters):
    """Fail and refund the generations earlier parts left queued, and empty the task queues.

    Otherwise the workers would dispatch them first (they are older) and the backlog would not be 1,000.
    """
    from django_q.brokers import get_broker

    from generation import services
    from generation.models import ACTIVE_STATUSES, Generation

    pks = list(Generation.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True))
    for pk in pks:
        services.generation_cancel(generation_id=pk)
    for name in clusters:
        get_broker(name).purge_queue()
    return len(pks)


def sustained_rate(stamps, limit):
    """Return the createTask rate a long backlog gets: `limit` calls per block, over the block period.

    The cap lets `limit` calls through at once and the next `limit` a window later, so a backlog goes
    in blocks; the time from the first block's start to the last block's start covers the whole
    blocks before it. At the cap exactly this is limit / window, however the calls spread inside a
    block (a first-to-last rate would count the last block's own spread against it).
    """
    starts = stamps[::limit]
    if len(starts) < 2 or starts[-1] <= starts[0]:
        return 0.0
    return limit * (len(starts) - 1) / (starts[-1] - starts[0])


def _max_in_window(stamps, window):
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def enqueue(*, base_url, keys, n, tag, conc=16):
    """Create `n` generations through the API as fast as `conc` clients can; return the 202 count."""
    api = Api(base_url)

    def one(i):
        with requests.Session() as session:
            ok = 0
            for j in range(i, n, conc):
                ok += api.create(session, keys[j % len(keys)], tag).status_code == 202
            return ok

    with ThreadPoolExecutor(conc) as executor:
        return sum(executor.map(one, range(conc)))


def backlog(*, base_url, keys, sandbox, cap, n, start_workers, stop_workers, timeout):
    """Queue `n` generations with no worker running, start the workers, and time until all end."""
    from generation.models import TERMINAL_STATUSES, Generation

    tag = "p5"
    rejected_before = sandbox.rejected_creates
    started = time.perf_counter()
    accepted = enqueue(base_url=base_url, keys=keys, n=n, tag=tag)
    enqueue_seconds = time.perf_counter() - started
    ours = Generation.objects.filter(idempotency_key__startswith=f"{tag}-")
    print(
        f"    queued {accepted} in {enqueue_seconds:.1f} s through the API; starting the workers", flush=True
    )

    t_start = time.time()
    groups = start_workers()
    try:
        ends = time.monotonic() + timeout
        done = 0
        while time.monotonic() < ends:
            done = ours.filter(status__in=TERMINAL_STATUSES).count()
            if done >= accepted:
                break
            time.sleep(0.5)
        all_done_after = time.time() - t_start
        # Still running: it shows what the workers hold at the end of the part.
        rss_after = {g.label: g.rss_mb() for g in groups}
    finally:
        stop_workers(groups)  # no worker may outlive the benchmark, whatever went wrong

    stamps = sorted(s for s in sandbox.create_calls if s >= t_start)
    window, limit = cap[1], cap[0]
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    cap_rate = limit / window
    rate = sustained_rate(stamps, limit)
    lags, dispatch_lags, stored, missing = [], [], [], 0
    by_status = {}
    for gen in ours.only("kie_task_id", "images_stored_at", "status", "created_at", "submitted_at"):
        by_status[gen.status] = by_status.get(gen.status, 0) + 1
        task = sandbox.tasks.get(gen.kie_task_id) if gen.kie_task_id else None
        if task is None or task.completed is None or gen.images_stored_at is None:
            missing += 1
            continue
        lags.append(gen.images_stored_at.timestamp() - task.completed)
        stored.append(gen.images_stored_at.timestamp() - t_start)
        dispatch_lags.append(task.created - t_start)
    return {
        "n": n,
        "accepted": accepted,
        "enqueue_per_s": accepted / enqueue_seconds if enqueue_seconds else 0.0,
        "terminal": done,
        "all_terminal_after_s": all_done_after,
        "by_status": by_status,
        "create_calls": len(stamps),
        "dispatch_per_s": rate,
        "cap_per_s": cap_rate,
        "dispatch_ratio": rate / cap_rate if cap_rate else 0.0,
        "max_in_window": _max_in_window(stamps, window),
        "first_to_last_s": span,
        # When each successive block of `limit` calls began (ideal: 0, window, 2 × window, …).
        "window_starts_s": [round(stamps[i] - stamps[0], 2) for i in range(0, len(stamps), limit)],
        "stored_per_s": (len(stored) - 1) / (max(stored) - min(stored)) if len(stored) > 1 else 0.0,
        "first_stored_after_s": min(stored) if stored else float("nan"),
        "first_create_after_s": (stamps[0] - t_start) if stamps else float("nan"),
        "rejected_429": sandbox.rejected_creates - rejected_before,
        "lag_p50_s": pct(lags, 50),
        "lag_p95_s": pct(lags, 95),
        "lag_max_s": max(lags) if lags else float("nan"),
        "lag_n": len(lags),
        "lag_missing": missing,
        "last_dispatched_after_s": max(dispatch_lags) if dispatch_lags else float("nan"),
        "worker_rss_mb": rss_after,
        "callbacks_failed": sum(1 for c in sandbox.callbacks if c["error"] or (c["status"] or 200) >= 400),
    }
