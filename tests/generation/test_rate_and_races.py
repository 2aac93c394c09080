"""KIE's createTask budget is never exceeded, concurrent charges never overdraw, refunds happen once."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from artio.errors import ArtioError
from billing.models import Account, LedgerKind
from generation import pipeline, ratelimit, services
from generation.models import DispatchState, Generation, Status

FAST = "google/imagen4-fast"


def max_in_window(stamps, window):
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_rate_parse_reads_the_setting():
    assert ratelimit.rate_parse("20/10s") == (20, 10.0)
    assert ratelimit.rate_parse("20/1s") == (20, 1.0)
    assert ratelimit.rate_parse("5/m") == (5, 60.0)
    assert ratelimit.rate_parse("100/500ms") == (100, 0.5)


@pytest.mark.parametrize("bad", ["", "20", "0/10s", "x/10s", "20/10h"])
def test_rate_parse_refuses_nonsense(bad):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        ratelimit.rate_parse(bad)


@pytest.mark.django_db
def test_slots_allow_n_per_window_then_say_how_long_to_wait(settings):
    settings.KIE_CREATE_RATE = "3/10s"
    now = 1_000_000.0
    taken = [ratelimit.create_slot_take(now=now) for _ in range(3)]
    assert sorted(slot for slot, _ in taken) == [1, 2, 3]
    # while the calls are in flight the slots stay taken
    assert ratelimit.create_slot_take(now=now + 20)[0] is None
    for slot, _ in taken:
        ratelimit.create_slot_release(slot, now=now + 0.2)
    slot, wait = ratelimit.create_slot_take(now=now + 1)
    assert slot is None and 9.0 < wait <= 10.5
    assert ratelimit.create_slot_take(now=now + 10.8)[0] is not None


def _burst(make_user, fund, tasks, count):
    tasks.run = False
    users = [make_user() for _ in range(10)]
    for user in users:
        fund(user, 1000)
    for i in range(count):
        services.generation_create(user=users[i % 10], model_slug=FAST, data={"prompt": f"burst {i}"})


@pytest.mark.django_db
def test_a_burst_of_200_is_dispatched_at_the_configured_rate_without_a_429(
    make_user, fund, kie, tasks, settings
):
    # given: KIE's limit, scaled down in time (40 per 1 s) on both sides
    settings.KIE_CREATE_RATE = "40/1s"
    kie.create_rate = (40, 1.0)
    _burst(make_user, fund, tasks, 200)
    # when
    started = time.monotonic()
    report = pipeline.generations_dispatch(max_seconds=30)
    elapsed = time.monotonic() - started
    # then: all sent, none refused by KIE, never more than 40 in any second, and smoothed, not failed
    assert len(report.submitted) == 200 and report.failed == [] and report.deferred == []
    assert kie.rejected_creates == 0
    assert max_in_window(list(kie.create_calls), 1.0) <= 40
    assert elapsed >= 4.0  # 200 at 40/s cannot take less than four windows
    assert Generation.objects.filter(status=Status.SUBMITTED).count() == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dispatchers_started_at_once_leave_one_holding_the_lease_and_send_each_once(
    make_user, fund, kie, tasks, settings
):
    # given: a backlog, and six workers that each start a dispatcher at the same instant
    settings.KIE_CREATE_RATE = "40/1s"
    kie.create_rate = (40, 1.0)
    _burst(make_user, fund, tasks, 200)
    barrier = threading.Barrier(6)

    def worker(_):
        barrier.wait()
        try:
            return pipeline.generations_dispatch(max_seconds=30)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(worker, range(6)))
    # then: exactly one held the lease and sent everything; the others sent nothing
    assert sorted(report.busy for report in reports) == [False] + [True] * 5
    submitted = [pid for report in reports for pid in report.submitted]
    assert len(submitted) == len(set(submitted)) == 200
    assert kie.rejected_creates == 0
    assert max_in_window(list(kie.create_calls), 1.0) <= 40
    assert len(kie.tasks) == 200  # no generation was sent twice
    assert not pipeline.dispatcher_is_running()  # and the lease was given back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_for_a_lapsed_lease_let_only_one_in(make_user, fund, kie, tasks):
    # given: a dispatcher died holding the lease, and it has lapsed
    _burst(make_user, fund, tasks, 10)
    lapsed = timezone.now() - timedelta(seconds=1)
    DispatchState.objects.update_or_create(
        pk=1, defaults={"dispatcher_id": "dead", "dispatcher_until": lapsed}
    )
    barrier = threading.Barrier(2)

    def worker(_):
        barrier.wait()
        try:
            return pipeline.generations_dispatch(max_seconds=10)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(worker, range(2)))
    assert sorted(report.busy for report in reports) == [False, True]
    assert len(kie.tasks) == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_generations_never_overdraw_the_balance(alice, fund, tasks):
    # given: credits for exactly 10 one-image generations, and 40 concurrent submissions
    tasks.run = False
    account = fund(alice, 40)
    barrier = threading.Barrier(40)

    def submit(i):
        barrier.wait()
        try:
            services.generation_create(user=alice, model_slug=FAST, data={"prompt": f"race {i}"})
            return "ok"
        except ArtioError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(submit, range(40)))
    account.refresh_from_db()
    assert outcomes.count("ok") == 10
    assert set(outcomes) == {"ok", "insufficient_credits"}
    assert account.balance == 0
    assert Generation.objects.count() == 10
    assert Account.objects.get(pk=account.pk).ledger.count() == 11  # the grant and ten charges


@pytest.mark.django_db
def test_the_poller_schedule_is_created_once():
    """The migration creates it; running its function again (as a re-run would) adds no second one."""
    import importlib

    from django.apps import apps
    from django_q.models import Schedule

    migration = importlib.import_module("generation.migrations.0002_poller_schedule")
    migration.schedule_create(apps, None)
    migration.schedule_create(apps, None)
    schedule = Schedule.objects.get(name="generation-poll")
    assert schedule.func == "generation.tasks.generation_poll"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_owner_cancel_racing_the_deadline_and_staff_refunds_once(alice, fund, tasks):
    # given: a stuck generation that its owner, the poller's deadline and staff all fail at once
    tasks.run = False
    account = fund(alice, 20)
    generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "stuck"})
    then = timezone.now() - timedelta(hours=1)
    Generation.objects.filter(pk=generation.pk).update(
        created_at=then, submitted_at=then, status=Status.RUNNING, kie_task_id="stuck"
    )
    racers = [
        lambda: services.generation_cancel_by_owner(generation=generation),
        lambda: pipeline.generation_fail(generation_id=generation.pk, code="deadline"),
        lambda: services.generation_cancel(generation_id=generation.pk),
    ] * 4
    barrier = threading.Barrier(len(racers))

    def run(racer):
        barrier.wait()
        try:
            racer()
        except services.NotCancellable:
            pass  # the owner came second: someone else already failed it
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        list(pool.map(run, racers))
    # then: one failure, one refund, the balance whole again
    generation.refresh_from_db()
    account.refresh_from_db()
    assert generation.status == Status.FAILED and generation.refunded_credits == 4
    assert account.ledger.filter(kind=LedgerKind.GENERATION_REFUND).count() == 1
    assert account.balance == 20
