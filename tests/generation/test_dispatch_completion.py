"""One dispatcher, completion on capacity of its own, no silent double send, pay only for what arrives."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from artio.models import PartnerSettings
from artio.services import partner_settings_for_user
from billing.models import LedgerEntry, LedgerKind
from generation import pipeline, services
from generation import tasks as queue_tasks
from generation.kie import KieClient
from generation.models import DispatchState, Generation, Status

from .conftest import read, wait_for

FAST = "google/imagen4-fast"  # 4 credits per image, free plan, num_images 1-4
GROK = "grok-imagine/text-to-image"  # one price per task of 6 images


def create(user, prompt="a red fox in snow", slug=FAST, **extra):
    return services.generation_create(user=user, model_slug=slug, data={"prompt": prompt, **extra})


def ledger(generation):
    return list(
        LedgerEntry.objects.filter(reference__startswith=generation.public_id)
        .order_by("id")
        .values_list("kind", "amount", "description")
    )


def kie_requests(kie, prefix):
    return [path for _method, path, _headers in kie.received if path.startswith(prefix)]


def kill_after_kie_accepts(monkeypatch):
    """Make the next createTask reach KIE, then kill the worker before it records the task id."""
    real = KieClient.create_task

    def accepted_then_killed(self, **kwargs):
        monkeypatch.setattr(KieClient, "create_task", real)
        real(self, **kwargs)
        raise SystemExit("worker killed while the createTask reply was in flight")

    monkeypatch.setattr(KieClient, "create_task", accepted_then_killed)


# --- one dispatcher -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_wake_no_dispatcher_while_one_holds_the_lease(
    alice, fund, tasks, django_capture_on_commit_callbacks
):
    # given: a dispatcher loop is running
    tasks.run = False
    fund(alice, 100)
    DispatchState.objects.create(
        pk=1, dispatcher_id="other", dispatcher_until=timezone.now() + timedelta(seconds=30)
    )
    # when: a burst of requests
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            create(alice, prompt=f"burst {i}")
    # then: none enqueues a dispatch task of its own
    assert tasks.named(pipeline.DISPATCH_TASK) == []
    # and once the lease has lapsed (a dead dispatcher) the next request wakes one, on its own cluster
    DispatchState.objects.filter(pk=1).update(dispatcher_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        create(alice, prompt="after")
    assert tasks.named(pipeline.DISPATCH_TASK) == [()]
    assert (pipeline.DISPATCH_TASK, "dispatch") in tasks.clusters


@pytest.mark.django_db
def test_a_second_dispatcher_sends_nothing_while_the_first_holds_the_lease(alice, fund, kie, tasks):
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    DispatchState.objects.create(
        pk=1, dispatcher_id="other", dispatcher_until=timezone.now() + timedelta(seconds=30)
    )
    report = pipeline.generations_dispatch(max_seconds=1)
    assert report.busy and report.submitted == []
    assert kie.tasks == {}
    # a busy dispatcher does not wake another (no ping-pong of tasks while the first one works)
    queue_tasks.generation_dispatch()
    assert tasks.named(pipeline.DISPATCH_TASK) == []
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED and generation.sending_at is None


def _lease(seconds_left, holder="host-1/4242/dead"):
    DispatchState.objects.update_or_create(
        pk=1,
        defaults={
            "dispatcher_id": holder,
            "dispatcher_until": timezone.now() + timedelta(seconds=seconds_left),
        },
    )


@pytest.mark.django_db
def test_a_lease_not_renewed_for_a_while_makes_one_request_wake_a_standby(
    alice, fund, tasks, django_capture_on_commit_callbacks
):
    # given: the holder last renewed its lease 35 s ago (a live one renews every few seconds)
    tasks.run = False
    fund(alice, 100)
    _lease(pipeline.DISPATCHER_LEASE_SECONDS - 35)
    # when: a burst of requests
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(4):
            create(alice, prompt=f"burst {i}")
    # then: one of them (not each) wakes a standby dispatcher on the dispatch cluster
    assert tasks.named(pipeline.DISPATCH_TASK) == [()]
    assert (pipeline.DISPATCH_TASK, "dispatch") in tasks.clusters


@pytest.mark.django_db
def test_a_standby_takes_over_as_soon_as_a_dead_holders_lease_lapses(alice, fund, kie, tasks, monkeypatch):
    # given: queued work, and a lease whose holder died (never renewed) with a second left
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    _lease(1.0)
    # when: a standby dispatcher runs
    report = pipeline.generations_dispatch(max_seconds=10)
    # then: it waited the lease out, took it (under its own name) and sent the work, once
    assert not report.busy and report.submitted == [generation.public_id]
    assert len(kie.tasks) == 1
    assert not pipeline.dispatcher_is_running()


@pytest.mark.django_db
def test_a_standby_leaves_the_work_to_a_holder_that_renews(alice, fund, kie, tasks, monkeypatch):
    # given: a stale-looking lease whose holder is only slow (a long createTask), and renews
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    _lease(5.0)

    def holder_renews(_seconds):
        _lease(pipeline.DISPATCHER_LEASE_SECONDS)

    monkeypatch.setattr(pipeline.time, "sleep", holder_renews)
    # when
    report = pipeline.generations_dispatch(max_seconds=10)
    # then: the standby stood down; nothing was sent twice
    assert report.busy and report.submitted == []
    assert kie.tasks == {}
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED
    assert DispatchState.objects.get(pk=1).dispatcher_id == "host-1/4242/dead"


def test_a_dispatchers_lease_names_its_host_and_process():
    host, pid, _random = pipeline.dispatcher_holder_id().split("/")
    assert host and int(pid) == __import__("os").getpid()


@pytest.mark.django_db
def test_the_dispatcher_hands_over_when_its_budget_ends_with_work_left(make_user, fund, kie, tasks, settings):
    # given: more work than one run's budget allows at this rate
    settings.KIE_CREATE_RATE = "2/1s"
    kie.create_rate = (2, 1.0)
    tasks.run = False
    user = make_user()
    fund(user, 100)
    for i in range(6):
        create(user, prompt=f"backlog {i}")
    tasks.calls.clear()
    # when
    report = pipeline.dispatcher_run(max_seconds=0.5)
    # then: it sent what the rate allowed, let go of the lease, and woke the next run
    assert 1 <= len(report.submitted) < 6
    assert not pipeline.dispatcher_is_running()
    assert tasks.named(pipeline.DISPATCH_TASK) == [()]


@pytest.mark.django_db
def test_callbacks_are_re_read_on_the_default_cluster_not_behind_the_dispatcher(
    client, alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    tasks.run = False
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice)
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    url = reverse("generation-kie-callback", args=[generation.callback_token])
    client.post(
        url, {"code": 200, "data": {"taskId": generation.kie_task_id}}, content_type="application/json"
    )
    assert (pipeline.REFRESH_TASK, None) in tasks.clusters
    assert (pipeline.DISPATCH_TASK, "dispatch") in tasks.clusters


# --- duplicate callbacks coalesce -------------------------------------------------------------------


@pytest.mark.django_db
def test_duplicate_callbacks_coalesce_into_one_read_and_one_download(client, alice, fund, kie, tasks):
    # given: a task KIE has finished
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    kie.received.clear()
    url = reverse("generation-kie-callback", args=[generation.callback_token])
    body = {"code": 200, "data": {"taskId": generation.kie_task_id}}
    # when: KIE calls back five times before any worker got to the first
    for _ in range(5):
        assert client.post(url, body, content_type="application/json").status_code == 200
    queued = tasks.named(pipeline.REFRESH_TASK)
    for args in queued:
        queue_tasks.generation_refresh(*args)
    # then: one re-read, one recordInfo, one download
    assert queued == [(generation.pk,)]
    assert len(kie_requests(kie, "/api/v1/jobs/recordInfo")) == 1
    assert len(kie_requests(kie, "/files/")) == 1
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED and generation.images.count() == 1
    assert generation.refresh_requested_at is None
    # and a callback after that re-read began asks again (it may carry news the read missed)
    client.post(url, body, content_type="application/json")
    assert len(tasks.named(pipeline.REFRESH_TASK)) == 2


@pytest.mark.django_db
def test_a_re_read_request_whose_task_was_lost_does_not_block_callbacks_forever(alice, fund, tasks):
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    stale = timezone.now() - timedelta(seconds=pipeline.REFRESH_REQUEST_STALE_SECONDS + 1)
    Generation.objects.filter(pk=generation.pk).update(refresh_requested_at=stale)
    assert pipeline.refresh_request(generation.pk) is True
    assert pipeline.refresh_request(generation.pk) is False


# --- no silent double send --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_create_task_is_adopted_from_the_callback_and_never_sent_twice(
    alice, fund, kie, tasks, live_server, settings, monkeypatch
):
    # given: the app is served, so KIE's real callback reaches it
    settings.ARTIO_PUBLIC_URL = live_server.url
    kie.set_latency(1.0)
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    # when: KIE accepts the task and the worker dies before recording its id
    kill_after_kie_accepts(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED and generation.kie_task_id == ""
    assert generation.sending_at is not None
    [kie_task_id] = list(kie.tasks)
    # then: the next dispatcher leaves it alone while KIE may have it
    tasks.run = True
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []
    # and KIE's callback names the task: it is adopted, re-read and stored
    wait_for(lambda: Generation.objects.get(pk=generation.pk).status == Status.SUCCEEDED)
    generation = read(lambda: Generation.objects.get(pk=generation.pk))
    assert generation.kie_task_id == kie_task_id
    assert generation.possible_duplicate_sends == 0 and generation.sending_at is None
    assert read(lambda: generation.images.count()) == 1
    # even once the grace period has passed, nothing is sent again
    Generation.objects.filter(pk=generation.pk).update(sending_at=timezone.now() - timedelta(hours=1))
    pipeline.generations_dispatch(max_seconds=1)
    assert list(kie.tasks) == [kie_task_id]
    assert [(kind, amount) for kind, amount, _ in ledger(generation)] == [(LedgerKind.GENERATION_CHARGE, -4)]


@pytest.mark.django_db
def test_a_send_nobody_called_back_for_is_sent_again_after_the_grace_period_and_counted(
    alice, fund, kie, tasks, monkeypatch
):
    # given: a worker died mid-createTask and KIE's callback never came
    kie.callbacks_enabled = False
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    kill_after_kie_accepts(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.generations_dispatch(max_seconds=5)
    # when: within the grace period
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []
    assert len(kie.tasks) == 1
    # when: the grace period has passed
    past = timezone.now() - timedelta(seconds=pipeline.SENDING_GRACE_SECONDS + 1)
    Generation.objects.filter(pk=generation.pk).update(sending_at=past, claimed_until=past)
    report = pipeline.generations_dispatch(max_seconds=5)
    # then: sent again, and the possible duplicate is counted for staff
    assert report.submitted == [generation.public_id]
    assert len(kie.tasks) == 2
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED and generation.possible_duplicate_sends == 1
    # the user still pays once and gets one outcome
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    pipeline.generation_refresh(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert [(kind, amount) for kind, amount, _ in ledger(generation)] == [(LedgerKind.GENERATION_CHARGE, -4)]


@pytest.mark.django_db
def test_a_create_task_timeout_waits_for_the_callback_before_sending_again(
    alice, fund, kie, tasks, monkeypatch
):
    # given: KIE took the request but its answer never came (a read timeout)
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    real = KieClient.create_task

    def accepted_then_timed_out(self, **kwargs):
        real(self, **kwargs)
        from generation.kie import KieError

        raise KieError("KIE timed out", code=None)

    monkeypatch.setattr(KieClient, "create_task", accepted_then_timed_out)
    pipeline.generations_dispatch(max_seconds=2)
    monkeypatch.setattr(KieClient, "create_task", real)
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED and generation.sending_at is not None
    # when: the back-off is over but the grace period is not
    Generation.objects.filter(pk=generation.pk).update(claimed_until=None)
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []
    # then: KIE's callback adopts the task it did create
    [kie_task_id] = list(kie.tasks)
    tasks.run = True
    pipeline.generation_callback_received(generation_id=generation.pk, task_id=kie_task_id)
    generation.refresh_from_db()
    assert generation.kie_task_id == kie_task_id and generation.status != Status.QUEUED
    assert len(kie.tasks) == 1


@pytest.mark.django_db
def test_a_callback_naming_a_task_sent_for_another_generation_is_not_adopted(
    alice, fund, kie, tasks, monkeypatch
):
    fund(alice, 20)
    tasks.run = False
    mine, other = create(alice, prompt="mine"), create(alice, prompt="other")
    pipeline.generations_dispatch(max_seconds=5, max_count=1)  # `mine` goes first (older)
    mine.refresh_from_db()
    Generation.objects.filter(pk=other.pk).update(sending_at=timezone.now())
    assert pipeline.task_adopt(generation_id=other.pk, task_id=mine.kie_task_id) is False
    other.refresh_from_db()
    assert other.status == Status.QUEUED and other.kie_task_id == ""


@pytest.mark.django_db
def test_staff_see_possible_duplicate_sends_and_can_filter_on_them(client, staff, alice, fund, tasks):
    tasks.run = False
    fund(alice, 20)
    counted, clean = create(alice, prompt="counted"), create(alice, prompt="clean")
    Generation.objects.filter(pk=counted.pk).update(possible_duplicate_sends=1)
    client.force_login(staff)
    changelist = reverse("admin:generation_generation_changelist")
    page = client.get(changelist, {"possible_duplicate": "yes"}).content.decode()
    assert counted.public_id in page and clean.public_id not in page
    page = client.get(changelist, {"possible_duplicate": "no"}).content.decode()
    assert clean.public_id in page and counted.public_id not in page
    page = client.get(reverse("admin:generation_generation_change", args=[counted.pk])).content.decode()
    assert "Possible duplicate sends" in page


# --- pay only for what arrives ----------------------------------------------------------------------


def _run_to_success(kie, generation):
    generation.refresh_from_db()
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    for _ in range(2):  # a second re-read (a duplicate callback, the poller) changes nothing
        pipeline.generation_refresh(generation_id=generation.pk)
    generation.refresh_from_db()
    return generation


@pytest.mark.django_db
def test_fewer_images_than_paid_for_refunds_the_difference_once_with_the_reason(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    # given: KIE delivers 2 of the 4 images paid for
    kie.max_result_images = 2
    account = fund(alice, 100)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, num_images=4)
    # when
    generation = _run_to_success(kie, generation)
    # then: the images that came are stored, and half the charge is back, once
    assert generation.status == Status.SUCCEEDED and generation.images.count() == 2
    assert generation.refunded and generation.refunded_credits == 8
    assert ledger(generation) == [
        (LedgerKind.GENERATION_CHARGE, -16, "Imagen 4 Fast × 4"),
        (LedgerKind.GENERATION_REFUND, 8, "Partial refund: 2 of 4 images delivered"),
    ]
    account.refresh_from_db()
    assert account.balance == 100 - 8
    call_command("audit_ledger")


@pytest.mark.django_db
def test_a_partial_refund_is_the_discounted_share_rounded_down(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    # given: 3 images at 10 % off cost 11 credits (12 rounded up); KIE delivers 1
    kie.max_result_images = 1
    fund(alice, 50)
    partner_settings_for_user(user=alice)
    PartnerSettings.objects.filter(user=alice).update(discount_percent=10)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, num_images=3)
    generation = _run_to_success(kie, generation)
    # then: 2/3 of 11 is 7.33; 7 comes back, never more than was charged
    assert generation.credits_charged == 11 and generation.refunded_credits == 7
    assert [amount for _, amount, _ in ledger(generation)] == [-11, 7]


@pytest.mark.django_db
def test_a_per_task_price_refunds_nothing_for_fewer_images(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    kie.max_result_images = 4
    fund(alice, 100, plan="premium")
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, slug=GROK)
    generation = _run_to_success(kie, generation)
    assert generation.status == Status.SUCCEEDED and generation.images.count() == 4
    assert not generation.refunded
    assert [kind for kind, _, _ in ledger(generation)] == [LedgerKind.GENERATION_CHARGE]


@pytest.mark.django_db
def test_all_images_delivered_refunds_nothing(alice, fund, kie, tasks, django_capture_on_commit_callbacks):
    fund(alice, 100)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, num_images=3)
    generation = _run_to_success(kie, generation)
    assert generation.images.count() == 3 and not generation.refunded


@pytest.mark.django_db
def test_the_poller_wakes_the_dispatcher_and_says_when_none_is_running(alice, fund, kie, tasks):
    tasks.run = False
    fund(alice, 20)
    generation = create(alice)
    assert pipeline.generations_poll(max_seconds=1)["dispatch_stalled"] is False
    assert tasks.named(pipeline.DISPATCH_TASK) == [()]
    # minutes later it is still queued and nobody holds the lease: no dispatch cluster is running
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert pipeline.generations_poll(max_seconds=1)["dispatch_stalled"] is True
