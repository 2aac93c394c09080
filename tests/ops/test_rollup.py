"""The overview's per-day rollup: the rows' figures, idempotent, late changes, the median's bound."""

import random
import statistics
from collections import Counter
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from generation.models import Generation, Status
from ops import overview as ov
from ops import rollup
from ops.models import ModelDay, RolledDay

FIELDS = ("generations", "succeeded", "failed", "credits_charged", "credits_refunded", "kie_credits",
          "kie_cost_usd", "cost_reported")  # fmt: skip


@pytest.fixture(autouse=True)
def _balance(kie_sandbox, fresh_cache):
    return kie_sandbox


def _seconds(generation):
    return (generation.completed_at - generation.created_at).total_seconds()


def _from_rows(period):
    """The figures straight from the generation rows, in Python: what the overview must equal."""
    rows = Generation.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    by_model, durations, by_day = {}, {}, Counter()
    for g in rows.select_related("model"):
        figures = by_model.setdefault(g.model.slug, dict.fromkeys(FIELDS, 0))
        figures["generations"] += 1
        figures["succeeded"] += g.status == Status.SUCCEEDED
        figures["failed"] += g.status == Status.FAILED
        figures["credits_charged"] += g.credits_charged
        figures["credits_refunded"] += g.refunded_credits
        figures["kie_credits"] += g.kie_credits_billed or 0
        figures["kie_cost_usd"] += g.kie_cost_usd or 0
        figures["cost_reported"] += g.kie_cost_usd is not None
        if g.status == Status.SUCCEEDED and g.completed_at:
            durations.setdefault(g.model.slug, []).append(_seconds(g))
        by_day[g.created_at.astimezone(UTC).date()] += 1
    return by_model, durations, by_day


def _seed_week(make_generations):
    """A week of mixed jobs on two models: successes of varied durations, failures refunded, a job
    still running, one not yet billed by KIE, and rows outside the period."""
    for days in range(7):
        make_generations(2 + days, age=timedelta(days=days, minutes=1), seconds=5 + days * 13)
        make_generations(1, age=timedelta(days=days, minutes=2), seconds=250 + days)
        make_generations(
            1, status=Status.FAILED, refunded=True, kie=Decimal(0), usd=Decimal(0), age=timedelta(days=days)
        )
        make_generations(
            days % 3 + 1, slug="google/imagen4", seconds=20 + days, kie=Decimal("8.5"), usd=Decimal("0.0425"),
            age=timedelta(days=days, minutes=3),
        )  # fmt: skip
    make_generations(1, slug="google/imagen4", status=Status.RUNNING, kie=None, age=timedelta(seconds=1))
    make_generations(5, age=timedelta(days=40))


def _assert_equal_to_rows(overview):
    expected, durations, by_day = _from_rows(overview.period)
    got = {row.slug: row for row in overview.models}
    assert set(got) == set(expected)
    for slug, figures in expected.items():
        assert {name: getattr(got[slug], name) for name in FIELDS} == figures, slug
        exact = statistics.median(durations[slug])
        assert abs(got[slug].median_seconds - exact) <= rollup.bucket_width(rollup.bucket_of(exact)), slug
    assert {day.day: day.generations for day in overview.days if day.generations} == dict(by_day)
    assert overview.total.generations == sum(f["generations"] for f in expected.values())


def test_figures_from_rollup_and_live_equal_the_rows(make_generations):
    _seed_week(make_generations)
    period = ov.period_from_params({"period": "7d"})
    assert not ModelDay.objects.exists()
    overview = ov.overview_build(period)  # rolls the six closed days lazily; today stays live
    today = rollup.today_utc()
    assert set(RolledDay.objects.values_list("day", flat=True)) == {
        today - timedelta(days=d) for d in range(1, 7)
    }
    assert not ModelDay.objects.filter(day=today).exists()
    _assert_equal_to_rows(overview)
    _assert_equal_to_rows(ov.overview_build(period))  # read from the rollup this time
    # A period wholly in the past reads the rollup only.
    past = ov.period_from_params({"period": "custom", "start": str(today - timedelta(days=6)),
                                  "end": str(today - timedelta(days=1))})  # fmt: skip
    _assert_equal_to_rows(ov.overview_build(past))


def test_a_day_with_no_generations_is_rolled_once(make_generations, django_assert_max_num_queries):
    period = ov.period_from_params({"period": "7d"})
    ov.overview_build(period)
    assert RolledDay.objects.count() == 6 and not ModelDay.objects.exists()
    # The rolled days, the rollup, today's cells and today's durations: nothing rolled again.
    with django_assert_max_num_queries(4):
        ov._generation_figures(period, timezone.now())


def _snapshot():
    return sorted(ModelDay.objects.values_list("day", "model_id", *FIELDS, "durations"))


def test_rollup_is_idempotent(make_generations):
    _seed_week(make_generations)
    yesterday = rollup.today_utc() - timedelta(days=1)
    first = yesterday - timedelta(days=5)
    assert rollup.rollup_days(first, yesterday) == (6, 12)
    once = _snapshot()
    assert rollup.rollup_days(first, yesterday) == (6, 12)
    assert rollup.rollup_days(yesterday - timedelta(days=2), yesterday) == (3, 6)  # a range partly rolled
    assert _snapshot() == once
    rolled_at = RolledDay.objects.get(day=first).rolled_at
    assert rollup.rollup_missing(first - timedelta(days=1), yesterday) == rolled_at  # the oldest roll
    assert RolledDay.objects.get(day=first - timedelta(days=1)).rolled_at > rolled_at  # rolled just now
    assert rollup.rollup_missing(first, yesterday) == rolled_at  # nothing missing, nothing rolled
    assert rollup.rollup_missing(first + timedelta(days=9), yesterday + timedelta(days=9)) is None


def test_a_late_refund_shows_once_the_day_is_rolled_again(make_generations):
    made = make_generations(2, age=timedelta(days=1), seconds=30)
    period = ov.period_from_params({"period": "7d"})
    assert ov.overview_build(period).total.credits_refunded == 0
    late = made[0]
    Generation.objects.filter(pk=late.pk).update(
        status=Status.FAILED, refunded=True, refunded_credits=late.credits_charged
    )
    # The rollup holds the day as it was until the nightly job (or ops_rollup) rolls it again.
    assert ov.overview_build(period).total.credits_refunded == 0
    assert rollup.rollup_scheduled().startswith(f"rolled up {rollup.REROLL_DAYS} days")
    overview = ov.overview_build(period)
    assert overview.total.credits_refunded == late.credits_charged
    assert (overview.total.succeeded, overview.total.failed) == (1, 1)
    _assert_equal_to_rows(overview)


def test_today_is_never_rolled(make_generations):
    today = rollup.today_utc()
    with pytest.raises(rollup.RollupRefused, match="has not ended"):
        rollup.rollup_days(today - timedelta(days=1), today)
    with pytest.raises(CommandError, match="has not ended"):
        call_command("ops_rollup", "--to", str(today))


def test_ops_rollup_command_rebuilds_a_range(make_generations, capsys):
    make_generations(3, age=timedelta(days=3))
    first = rollup.today_utc() - timedelta(days=4)
    call_command("ops_rollup", "--from", str(first), "--to", str(first + timedelta(days=2)))
    assert "Rolled up 3 day(s)" in capsys.readouterr().out
    assert ModelDay.objects.get().generations == 3
    call_command("ops_rollup")  # yesterday
    assert RolledDay.objects.count() == 4
    with pytest.raises(CommandError, match="not a date"):
        call_command("ops_rollup", "--from", "yesterday")


def test_the_nightly_schedule_exists(db):
    schedule = Schedule.objects.get(name="ops-rollup")
    assert (schedule.func, schedule.schedule_type) == ("ops.tasks.rollup_nightly", Schedule.DAILY)
    assert (schedule.next_run.hour, schedule.next_run.minute) == (0, 45)


def test_sql_buckets_match_the_python_ones_at_every_edge(make_generations):
    durations = [0.2, 1, 9.99, 10, 119.5, 120, 129.9, 130, 599, 600, 659, 660, 3599, 3600, 7200]
    for seconds in durations:
        make_generations(1, age=timedelta(days=1, hours=2), seconds=seconds)
    start = timezone.now() - timedelta(days=2)
    (histogram,) = rollup.duration_histograms(start, timezone.now()).values()
    assert histogram == Counter(rollup.bucket_of(s) for s in durations)


@pytest.mark.parametrize("seed", range(20))
def test_the_median_stays_within_one_bucket_width(seed):
    rng = random.Random(seed)
    spread = rng.choice([30, 300, 3000])
    durations = [rng.uniform(0, spread) for _ in range(rng.randint(1, 400))]
    approx = rollup.median_from_histogram(Counter(rollup.bucket_of(s) for s in durations))
    middle = sorted(durations)[(len(durations) - 1) // 2 : len(durations) // 2 + 1]
    bound = max(rollup.bucket_width(rollup.bucket_of(s)) for s in middle)
    assert abs(approx - statistics.median(durations)) <= bound


def test_median_of_buckets():
    assert rollup.median_from_histogram({}) is None
    assert rollup.median_from_histogram({10: 1}) == 10.5
    assert rollup.bucket_width(rollup.bucket_of(125)) == 10
    assert rollup.bucket_width(rollup.bucket_of(1000)) == 60
    assert rollup.bucket_width(rollup.bucket_of(99999)) is None
