"""Per-day, per-model sums of generations (ModelDay), so the overview reads O(days × models) rows.

A finished UTC day is summed once (the `ops-rollup` schedule, 00:45 UTC, re-rolls the last
`REROLL_DAYS` days, catching late changes such as refunds and KIE bills read by reconciliation) or
lazily by the overview when a closed day of its period is missing. Today is never rolled: the
overview reads it live. Rolling is an idempotent replace, so `manage.py ops_rollup` can rebuild any
range.

Medians cannot be summed, so each ModelDay keeps its successes' durations as a histogram over fixed
buckets (`BUCKET_EDGES`): 1 s wide below 2 minutes, 10 s to 10 minutes, 60 s to an hour, then one
open bucket. `median_from_histogram` interpolates inside the bucket holding the median, so it is
within that bucket's width of the exact median (below an hour).
"""

from bisect import bisect_right
from collections import Counter
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from generation.models import Generation, Status

from .models import ModelDay, RolledDay

REROLL_DAYS = 7
BUCKET_EDGES = (*range(0, 120, 1), *range(120, 600, 10), *range(600, 3600, 60), 3600)
_SQL = {
    "postgresql": {
        "day": "(created_at AT TIME ZONE 'UTC')::date",
        "seconds": "GREATEST(EXTRACT(EPOCH FROM completed_at - created_at), 0)",
        "floor": "FLOOR({})",
    },
    # SQLite's julianday() is a double: a few microseconds of error would put 10.000 s in the 9 s
    # bucket, hence the half millisecond added. CAST truncates, which is floor for s >= 0.
    "sqlite": {
        "day": "date(created_at)",
        "seconds": "MAX((julianday(completed_at) - julianday(created_at)) * 86400.0 + 0.0005, 0)",
        "floor": "CAST({} AS INTEGER)",
    },
}


def _bucket_sql(floor):
    """The buckets of BUCKET_EDGES in SQL, over a non-negative number of seconds `s`."""
    return (
        f"CASE WHEN s < 120 THEN {floor.format('s')} "
        f"WHEN s < 600 THEN 120 + {floor.format('(s - 120) / 10')} "
        f"WHEN s < 3600 THEN 168 + {floor.format('(s - 600) / 60')} "
        f"ELSE {len(BUCKET_EDGES) - 1} END"
    )


def bucket_of(seconds):
    """Return the index of the bucket holding `seconds` (as the SQL does)."""
    return max(bisect_right(BUCKET_EDGES, max(seconds, 0)) - 1, 0)


def bucket_width(index):
    """Return the width in seconds of bucket `index`, None for the last (open) one."""
    return None if index >= len(BUCKET_EDGES) - 1 else BUCKET_EDGES[index + 1] - BUCKET_EDGES[index]


def _value_at(histogram, rank):
    """Estimate the value at 0-based `rank` of the sorted durations: the bucket's count spread evenly."""
    seen = 0
    for index in sorted(histogram):
        count = histogram[index]
        if rank < seen + count:
            width = bucket_width(index) or 0
            return BUCKET_EDGES[index] + width * (rank - seen + 0.5) / count
        seen += count
    raise ValueError("rank beyond the histogram")


def median_from_histogram(histogram):
    """Return the median of {bucket index: count}, or None when empty; within one bucket's width."""
    n = sum(histogram.values())
    if not n:
        return None
    return (_value_at(histogram, (n - 1) // 2) + _value_at(histogram, n // 2)) / 2


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def _bounds(start, end):
    if connection.vendor != "postgresql":
        # SQLite stores datetimes as text in Django's format; compare like with like.
        return [value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") for value in (start, end)]
    return [start, end]


def generation_cells(start, end):
    """Return [{model_id, day, generations, …}] for the generations created in [start, end): one GROUP
    BY (model, day) on integer and date keys, so PostgreSQL hashes the groups instead of sorting."""
    # The sums are named apart from the columns they sum: SQL would read a same-named alias back.
    sums = {
        "generations": Count("id"),
        "succeeded": Count("id", filter=Q(status=Status.SUCCEEDED)),
        "failed": Count("id", filter=Q(status=Status.FAILED)),
        "credits_charged": Sum("credits_charged"),
        "credits_refunded": Sum("refunded_credits"),
        "kie_credits": Sum("kie_credits_billed"),
        "kie_cost_usd": Sum("kie_cost_usd"),
        "cost_reported": Count("id", filter=Q(kie_cost_usd__isnull=False)),
    }
    rows = (
        Generation.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("model_id", "day")
        .annotate(**{f"sum_{name}": value for name, value in sums.items()})
        .order_by()
    )
    return [
        {"model_id": row["model_id"], "day": row["day"], **{name: row[f"sum_{name}"] or 0 for name in sums}}
        for row in rows
    ]


def duration_histograms(start, end):
    """Return {(model_id, day): Counter(bucket → successes)} for generations created in [start, end)."""
    sql = _SQL["postgresql" if connection.vendor == "postgresql" else "sqlite"]
    bucket = _bucket_sql(sql["floor"])
    # Only this module's fixed fragments are formatted in; the values go as parameters.
    query = f"""
        SELECT model_id, day, {bucket} AS bucket, COUNT(*) FROM (
            SELECT model_id, {sql["day"]} AS day, {sql["seconds"]} AS s
            FROM generation_generation
            WHERE created_at >= %s AND created_at < %s AND status = %s AND completed_at IS NOT NULL
        ) AS durations
        GROUP BY 1, 2, 3
    """  # noqa: S608
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(query, [*_bounds(start, end), Status.SUCCEEDED])
        for model_id, day, index, count in cursor.fetchall():
            if isinstance(day, str):
                day = datetime.fromisoformat(day).date()
            found.setdefault((model_id, day), Counter())[int(index)] += count
    return found


def today_utc(now=None):
    return (now or timezone.now()).astimezone(UTC).date()


class RollupRefused(ValueError):
    """The days asked for cannot be rolled (not finished yet, or an empty range)."""


def rollup_days(first, last, *, now=None):
    """Sum the generations of UTC days first..last (both ended) into ModelDay; return (days, rows).

    Replaces whatever those days held, so running it again, or over a range partly rolled, is safe.
    """
    now = now or timezone.now()
    if last < first:
        raise RollupRefused("The last day is before the first.")
    if last >= today_utc(now):
        raise RollupRefused(f"{last} has not ended yet (UTC): only finished days are rolled up.")
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    histograms = duration_histograms(start, end)
    rows = []
    for cell in generation_cells(start, end):
        durations = histograms.get((cell["model_id"], cell["day"]), {})
        rows.append(
            ModelDay(
                day=cell["day"],
                model_id=cell["model_id"],
                generations=cell["generations"],
                succeeded=cell["succeeded"],
                failed=cell["failed"],
                credits_charged=cell["credits_charged"] or 0,
                credits_refunded=cell["credits_refunded"] or 0,
                kie_credits=cell["kie_credits"] or 0,
                kie_cost_usd=cell["kie_cost_usd"] or 0,
                cost_reported=cell["cost_reported"],
                durations={str(index): count for index, count in sorted(durations.items())},
            )
        )
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    fields = [f.name for f in ModelDay._meta.concrete_fields if f.name not in ("id", "day", "model")]
    with transaction.atomic():
        ModelDay.objects.filter(day__gte=first, day__lte=last).delete()
        # A concurrent roll of the same day may have inserted since the delete: update its rows.
        ModelDay.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["day", "model"], update_fields=fields, batch_size=500
        )
        RolledDay.objects.bulk_create(
            [RolledDay(day=day, rolled_at=now) for day in days],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["rolled_at"],
        )
    return len(days), len(rows)


def rollup_missing(first, last, *, now=None):
    """Roll the days of first..last that have ended and are not rolled yet; return when the oldest of
    those days was rolled (None when none has ended): how fresh the rollup's figures are.

    One read when none is missing; otherwise one roll over the span of the missing days (re-rolling a
    rolled day between them is harmless), so the cost never depends on how many are missing.
    """
    now = now or timezone.now()
    last = min(last, today_utc(now) - timedelta(days=1))
    if last < first:
        return None
    rolled = dict(RolledDay.objects.filter(day__gte=first, day__lte=last).values_list("day", "rolled_at"))
    missing = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [day for day in missing if day not in rolled]
    if missing:
        rollup_days(missing[0], missing[-1], now=now)
        rolled.update(dict.fromkeys(missing, now))
    return min(rolled.values())


def rollup_scheduled():
    """The nightly `ops-rollup` schedule: re-roll the last REROLL_DAYS finished days."""
    yesterday = today_utc() - timedelta(days=1)
    days, rows = rollup_days(yesterday - timedelta(days=REROLL_DAYS - 1), yesterday)
    return f"rolled up {days} days ({rows} model-days) to {yesterday}"
