"""The cluster test's checks and figures: what is gathered while the survivors run, then judged.

`gather()` reads the database, the bucket, Redis and the surviving web host's API (and GETs every
image's signed URL); `report()` adds the KIE simulator's own task log, prints one line per check
and the figures, and returns the names of the checks that failed.
"""

import itertools
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests

from bench import procs
from bench.load import pct

CALLBACK_TOKEN = re.compile(r"/callback/([^/]+)/?$")


def _bucket_objects(s3_url, bucket):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_url)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["Size"]
    return found


def _api_images(base_url, keys):
    """Return {generation id: [image dicts]} as the API lists them, over every account's pages."""
    images = {}
    with requests.Session() as session:
        for key in keys:
            url = f"{base_url}/api/v1/generations?limit=100"
            while url:
                page = session.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
                page.raise_for_status()
                body = page.json()
                for item in body["results"]:
                    images[item["id"]] = item["images"]
                url = body["next"]
    return images


def _fetch(url):
    try:
        answer = requests.get(url, timeout=30)
        return answer.status_code, len(answer.content), answer.content[:8]
    except requests.RequestException as exc:
        return None, 0, repr(exc).encode()[:80]


def _local_files(hosts):
    """Files any host wrote under its own MEDIA_ROOT (there must be none: media is S3)."""
    found = []
    for name, host in hosts.items():
        media = host["dir"] / "media"
        found += [f"{name}:{p.relative_to(media)}" for p in media.rglob("*") if p.is_file()]
    return found


def _ticks(redis_url):
    import redis

    from bench.cluster_probe import TICKS_KEY

    return [json.loads(raw) for raw in redis.Redis.from_url(redis_url).lrange(TICKS_KEY, 0, -1)]


def gather(*, cluster, burst, events, keys, survivor, terminal_after, cap):
    from django.db.models import F
    from django_q.models import Task

    from generation.models import DispatchState, Generation, GenerationImage

    gens = list(
        Generation.objects.values(
            "pk",
            "public_id",
            "status",
            "kie_task_id",
            "callback_token",
            "images_stored_at",
            "created_at",
            "completed_at",
            "error_code",
            "possible_duplicate_sends",
        )
    )
    images = list(GenerationImage.objects.values("generation_id", "file", "thumbnail", "bytes"))
    bucket = _bucket_objects(cluster.s3_url, "artio-cluster-test")
    api_images = _api_images(survivor, keys)
    urls = [(gid, image["url"]) for gid, listed in api_images.items() for image in listed]
    with ThreadPoolExecutor(16) as pool:
        fetched = list(pool.map(lambda pair: (pair, _fetch(pair[1])), urls))
    health = requests.get(f"{survivor}/healthz", timeout=30)
    passed, audit_line = procs.audit(dict(__import__("os").environ))
    state = DispatchState.objects.filter(pk=1).values("dispatcher_id", "dispatcher_until", "paused").first()
    polls = Task.objects.filter(
        func="generation.tasks.generation_poll",
        started__gte=datetime.fromtimestamp(events["started"]).astimezone(),
    ).annotate(at=F("started"))
    return {
        "n": len(gens),
        "burst": {
            "codes": burst.codes,
            "errors": burst.errors[:5],
            "error_count": len(burst.errors),
            "retried": burst.retried,
            "answered": len(burst.created),
            "distinct": len(set(burst.created)),
        },
        "events": events,
        "gens": gens,
        "images": images,
        "bucket": bucket,
        "api_images": api_images,
        "fetched": fetched,
        "local_files": _local_files(cluster.hosts),
        "ticks": _ticks(cluster.redis_url),
        "poll_runs": sorted(t.at.timestamp() for t in polls),
        "health": (health.status_code, health.text[:300]),
        "audit": (passed, audit_line),
        "dispatch_state": state,
        "terminal_after": terminal_after,
        "cap": cap,
    }


def _max_in_window(stamps, window):
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class Verdicts:
    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail):
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
        if not ok:
            self.failed.append(name)


def report(out):
    v = Verdicts()
    gens, kie = out["gens"], out["kie"]
    print("\nchecks:", flush=True)
    _terminal(v, out)
    dupes, lags = _sent_once(v, gens, kie)
    rate = _rate(v, kie, out["cap"])
    _images(v, out)
    _schedules(v, out)
    passed, line = out["audit"]
    v.check("audit_ledger", passed, line or "clean")
    status, body = out["health"]
    v.check("/healthz on the survivor", status == 200, f"{status} {body[:160]}")
    _figures(out, gens, dupes, lags, rate)
    return v.failed


def _terminal(v, out):
    burst, gens = out["burst"], out["gens"]
    from generation.models import TERMINAL_STATUSES

    v.check(
        "every request answered once",
        burst["error_count"] == 0 and burst["answered"] == burst["distinct"] == out["n"],
        f"{burst['answered']} answered 202 ({burst['distinct']} distinct ids), {out['n']} generations in the "
        f"database, {burst['retried']} answered on a retry (B stopped, or an idle connection closed), "
        f"errors {burst['errors'] or 'none'}",
    )
    by_status = {}
    for g in gens:
        by_status[g["status"]] = by_status.get(g["status"], 0) + 1
    active = sum(n for s, n in by_status.items() if s not in TERMINAL_STATUSES)
    after = out["terminal_after"]
    v.check(
        "every generation terminal",
        active == 0 and bool(gens),
        f"{by_status} ({f'all terminal after {after:.0f} s' if after else 'NOT all terminal in time'})",
    )


def _sent_once(v, gens, kie):
    tasks_by_token = {}
    for task in kie["tasks"]:
        match = CALLBACK_TOKEN.search(task["callback_url"] or "")
        if match:
            tasks_by_token.setdefault(match.group(1), []).append(task)
    task_ids = {t["task_id"]: t for t in kie["tasks"]}
    dupes = sum(max(0, len(tasks_by_token.get(g["callback_token"], [])) - 1) for g in gens)
    unsent = [g["public_id"] for g in gens if not tasks_by_token.get(g["callback_token"])]
    unknown = [g["public_id"] for g in gens if g["kie_task_id"] and g["kie_task_id"] not in task_ids]
    flagged = sum(g["possible_duplicate_sends"] for g in gens)
    v.check(
        "each generation sent to KIE once",
        dupes == 0 and not unsent and not unknown,
        f"{len(kie['tasks'])} KIE tasks for {len(gens)} generations: duplicates {dupes}, never sent "
        f"{len(unsent)}, task ids KIE does not know {len(unknown)} (flagged possible re-sends: {flagged})",
    )
    lags = []
    for g in gens:
        task = task_ids.get(g["kie_task_id"])
        if task and task["completed"] and g["images_stored_at"]:
            lags.append(g["images_stored_at"].timestamp() - task["completed"])
    return dupes, lags


def _rate(v, kie, cap):
    limit, window = cap
    stamps = sorted(kie["create_calls"])
    worst = _max_in_window(stamps, window)
    v.check(
        "KIE's createTask cap never exceeded across both workers",
        kie["rejected_creates"] == 0 and worst <= limit,
        f"{len(stamps)} createTask calls, at most {worst} in any {window:g} s window (cap {limit}), "
        f"{kie['rejected_creates']} refused with 429",
    )
    if len(stamps) > 1:
        return len(stamps) / (stamps[-1] - stamps[0])
    return 0.0


def _images(v, out):
    from generation.models import Status

    gens, images, bucket = out["gens"], out["images"], out["bucket"]
    succeeded = {g["pk"] for g in gens if g["status"] == Status.SUCCEEDED}
    with_images = {i["generation_id"] for i in images}
    names = [i["file"] for i in images] + [i["thumbnail"] for i in images if i["thumbnail"]]
    missing = [name for name in names if name not in bucket]
    orphans = len(set(bucket) - set(names) - {k for k in bucket if k.startswith("healthz/")})
    v.check(
        "every image in the bucket",
        succeeded <= with_images and not missing and bool(names),
        f"{len(succeeded)} succeeded, {len(succeeded - with_images)} without images; {len(names)} files "
        f"(images and thumbnails) recorded, {len(missing)} missing from S3 ({orphans} unrecorded objects)",
    )
    by_public = {g["public_id"]: g for g in gens}
    sizes = {i["file"]: i["bytes"] for i in images}
    listed = sum(
        len(x) for gid, x in out["api_images"].items() if by_public.get(gid, {}).get("status") == "succeeded"
    )
    bad = []
    for (gid, url), (status, size, head) in out["fetched"]:
        name = next((n for n in sizes if n in url), None)
        signed = "X-Amz-Signature=" in url or "Signature=" in url
        if status != 200 or not signed or name is None or size != sizes[name]:
            bad.append(f"{gid}: {status} signed={signed} {size}B {head!r} {url[:90]}")
    v.check(
        "every image served by a signed URL through the surviving web host",
        not bad and listed == len(images) and len(out["fetched"]) == len(images),
        f"{len(out['fetched'])} URLs from GET /api/v1/generations on A for {len(images)} images; "
        f"{len(bad)} bad{': ' + bad[0] if bad else ''}",
    )
    v.check(
        "no host wrote media to its own disk",
        not out["local_files"],
        f"{len(out['local_files'])} files under the hosts' MEDIA_ROOTs {out['local_files'][:3]}",
    )


def _schedules(v, out):
    ticks = out["ticks"]
    killed = out["events"].get("killed_at", 0)
    runs, repeats, uneven = {}, 0, []
    for t in ticks:
        runs.setdefault(t["schedule"], []).append(t["intended"])
    for name, intended in runs.items():
        repeats += len(intended) - len(set(intended))
        stamps = sorted(datetime.fromisoformat(i).timestamp() for i in set(intended))
        # The first gap may span periods missed before any scheduler ran (catch_up is off); after
        # that, every period must run, through the kill.
        gaps = [round(b - a) for a, b in itertools.pairwise(stamps)][1:]
        uneven += [f"{name}: {g} s" for g in gaps if g != 60]
    both_alive = sum(1 for t in ticks if t["at"] < killed)
    after_kill = len(ticks) - both_alive
    periods = sum(len(set(i)) for i in runs.values())
    v.check(
        "scheduled jobs run once per period, not once per worker",
        repeats == 0 and not uneven and both_alive >= 2 and after_kill >= 2 * len(runs),
        f"{len(runs)} every-minute probes: {len(ticks)} runs for {periods} periods ({repeats} repeated, "
        f"{len(uneven)} periods skipped {uneven[:2]}); {both_alive} runs while both workers lived, "
        f"{after_kill} after the kill, by {sorted({t['host'] for t in ticks})}; "
        f"the generation poller ran {len(out['poll_runs'])} times",
    )


def _figures(out, gens, dupes, lags, rate):
    created = [g["created_at"].timestamp() for g in gens]
    done = [g["completed_at"].timestamp() for g in gens if g["completed_at"]]
    span = (max(done) - min(created)) if done and created else 0.0
    events = out["events"]
    holder = events.get("lease_holder_at_kill", "")
    killed = {str(pid) for pid in events.get("killed_pids", [])}
    held_by_killed = bool(holder) and any(f"/{pid}/" in holder for pid in killed)
    print("\nfigures:", flush=True)
    print(
        f"  generations/s across the cluster: {len(done) / span if span else 0:.2f} "
        f"({len(done)} terminal in {span:.0f} s from the first create)",
        flush=True,
    )
    print(f"  createTask rate: {rate:.2f}/s (cap {out['cap'][0] / out['cap'][1]:.1f}/s)", flush=True)
    print(
        f"  store lag (KIE done -> image in S3): p50 {pct(lags, 50):.2f} s, p95 {pct(lags, 95):.2f} s, "
        f"max {max(lags) if lags else float('nan'):.2f} s over {len(lags)}",
        flush=True,
    )
    print(f"  duplicates sent to KIE: {dupes}", flush=True)
    killed_at = events.get("killed_at")
    calls = sorted(c for c in out["kie"]["create_calls"] if killed_at and c > killed_at - 1)
    gaps = [(b - a, a) for a, b in itertools.pairwise(calls)]
    if gaps:
        gap, at = max(gaps)
        # A call the dead holder had in flight may still land just after the kill; the longest
        # silence after it is the takeover.
        print(
            f"  longest createTask silence around the kill: {gap:.1f} s "
            f"(from {at - killed_at:+.1f} s after it; the standby's takeover)",
            flush=True,
        )
    print(
        f"  dispatcher lease at the kill: {holder or 'free'} "
        f"({'held by the killed host' if held_by_killed else 'not held by the killed host'})",
        flush=True,
    )
