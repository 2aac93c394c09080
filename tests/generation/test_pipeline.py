"""The pipeline end to end against the KIE sandbox over real HTTP: charge, dispatch, results, refunds."""

import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from artio.errors import ArtioError
from billing.models import LedgerEntry, LedgerKind
from generation import pipeline, services
from generation.kie import KieClient, KieError, kie_client
from generation.models import Generation, Status

from .conftest import read, wait_for

FAST = "google/imagen4-fast"  # 4 credits per image, free plan, num_images 1-4


def ledger(generation):
    return list(
        LedgerEntry.objects.filter(reference=generation.public_id)
        .order_by("id")
        .values_list("kind", "amount")
    )


def create(user, prompt="a red fox in snow", **extra):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": prompt, **extra})


@pytest.mark.django_db(transaction=True)
def test_submit_to_success_over_real_http_stores_images(alice, fund, kie, tasks, live_server, settings):
    # given: the app is served, so the sandbox's callback really reaches it
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 100)
    tasks.run = False
    # when
    generation = create(alice, num_images=2)
    # then: charged and queued, dispatch enqueued on commit
    assert generation.status == Status.QUEUED
    assert generation.credits_charged == 8
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -8)]
    assert tasks.named("generation.tasks.generation_dispatch") == [()]
    # when: the worker dispatches; the callback then triggers the re-read
    tasks.run = True
    pipeline.generations_dispatch(max_seconds=5)
    read(generation.refresh_from_db)
    assert generation.status in (Status.SUBMITTED, Status.RUNNING, Status.SUCCEEDED)
    assert generation.kie_task_id in kie.tasks
    callback = kie.tasks[generation.kie_task_id].callback_url
    assert callback == live_server.url + f"/generation/kie/callback/{generation.callback_token}/"
    wait_for(lambda: Generation.objects.get(pk=generation.pk).status == Status.SUCCEEDED)
    # then: two images in our storage, measured and thumbnailed, not KIE's URLs
    generation.refresh_from_db()
    images = list(generation.images.all())
    assert len(images) == 2
    for image in images:
        assert default_storage.exists(image.file.name)
        assert default_storage.exists(image.thumbnail.name)
        assert image.width > 0 and image.height > 0
        assert image.content_type == "image/png"
        assert image.file.name.startswith("generations/")
    assert generation.completed_at and generation.submitted_at
    assert not generation.refunded
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -8)]
    assert generation.account.__class__.objects.get(pk=generation.account_id).balance == 92


@pytest.mark.django_db
def test_kie_failure_fails_and_refunds_exactly_once(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, prompt="sandbox:fail please")
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED
    wait_for(lambda: kie.tasks[generation.kie_task_id].state == "fail" or _refresh_done(generation))
    # the callback never reaches us here; the re-read is what a callback or the poller triggers
    for _ in range(3):
        pipeline.generation_refresh(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED
    assert generation.refunded and generation.refunded_credits == 4
    assert "refunded" in generation.error_message
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4), (LedgerKind.GENERATION_REFUND, 4)]
    assert generation.account.__class__.objects.get(pk=generation.account_id).balance == 20


def _refresh_done(generation):
    pipeline.generation_refresh(generation_id=generation.pk)
    return Generation.objects.get(pk=generation.pk).is_terminal


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["twice", "late"])
def test_callback_twice_or_late_gives_one_outcome(alice, fund, kie, tasks, live_server, settings, mode):
    settings.ARTIO_PUBLIC_URL = live_server.url
    kie.callback_mode = mode
    kie.callback_late_seconds = 0.5
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    tasks.run = True
    pipeline.generations_dispatch(max_seconds=5)
    read(generation.refresh_from_db)
    if mode == "late":
        # the poller gets there first; the late callback must change nothing
        wait_for(lambda: _refresh_done(generation))
    wait_for(
        lambda: (
            len([c for c in kie.callbacks if c["task_id"] == generation.kie_task_id])
            >= (2 if mode == "twice" else 1)
        )
    )
    wait_for(lambda: all(c["status"] == 200 for c in kie.callbacks if c["task_id"] == generation.kie_task_id))
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert generation.images.count() == 1
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4)]


@pytest.mark.django_db
def test_lost_callback_is_picked_up_by_the_poller(
    alice, fund, kie, tasks, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pipeline, "POLL_AFTER_SECONDS", 0)
    kie.callbacks_enabled = False
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice)
    generation.refresh_from_db()
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    summary = pipeline.generations_poll(max_seconds=5)
    generation.refresh_from_db()
    assert summary["refreshed"] >= 1
    assert generation.status == Status.SUCCEEDED
    assert generation.images.count() == 1
    # a second sweep finds nothing to do
    pipeline.generations_poll(max_seconds=5)
    assert generation.images.count() == 1
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4)]


@pytest.mark.django_db
def test_storage_failing_for_one_generation_does_not_stop_the_poller_sweep(
    alice, fund, kie, tasks, monkeypatch, django_capture_on_commit_callbacks
):
    # given: two results waiting (callbacks lost), and storage that fails once (S3 answering 500)
    monkeypatch.setattr(pipeline, "POLL_AFTER_SECONDS", 0)
    kie.callbacks_enabled = False
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        first, second = create(alice, prompt="one"), create(alice, prompt="two")
    for generation in (first, second):
        generation.refresh_from_db()
        wait_for(lambda g=generation: kie.tasks[g.kie_task_id].due < time.time())
    real_save = pipeline.storage.image_save
    failures = []

    def save_failing_once(**kwargs):
        if not failures:
            failures.append(1)
            raise OSError("S3 answered 500")
        return real_save(**kwargs)

    monkeypatch.setattr(pipeline.storage, "image_save", save_failing_once)
    # when
    summary = pipeline.generations_poll(max_seconds=5)
    # then: one error counted, the other generation stored; the next sweep stores the first
    assert summary["errors"] == 1 and summary["refreshed"] == 1
    pipeline.generations_poll(max_seconds=5)
    statuses = set(Generation.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True))
    assert statuses == {Status.SUCCEEDED}


@pytest.mark.django_db
def test_worker_killed_after_storing_images_does_not_duplicate_them(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, num_images=2)
    generation.refresh_from_db()
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    record = kie_client().record_info(task_id=generation.kie_task_id)
    # the first worker stored the images, then died before moving the status
    pipeline._images_store(generation=generation, urls=record.result_urls)
    # the re-delivered task runs from the start
    pipeline.generation_refresh(generation_id=generation.pk)
    pipeline.generation_refresh(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert generation.images.count() == 2
    files = list(Path(default_storage.path("generations")).rglob("*.png"))
    assert len(files) == 2  # the second download's duplicates were deleted
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4 * 2)]


@pytest.mark.django_db
def test_deadline_fails_and_refunds_then_a_late_success_still_stores_images(
    alice, fund, kie, tasks, settings, monkeypatch, django_capture_on_commit_callbacks
):
    kie.set_latency(1.0)
    kie.callbacks_enabled = False
    monkeypatch.setattr(pipeline, "POLL_AFTER_SECONDS", 0)
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice)
    generation.refresh_from_db()
    settings.KIE_DEADLINE_SECONDS = 0
    summary = pipeline.generations_poll(max_seconds=5)
    generation.refresh_from_db()
    assert summary["deadline"] == 1
    assert generation.status == Status.FAILED and generation.error_code == "deadline"
    assert generation.refunded and generation.images.count() == 0
    # KIE finishes after all; the next sweep stores the images and keeps the refund
    wait_for(lambda: kie.tasks[generation.kie_task_id].due < time.time())
    Generation.objects.filter(pk=generation.pk).update(last_checked_at=None)
    pipeline.generations_poll(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.refunded
    assert generation.images.count() == 1
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4), (LedgerKind.GENERATION_REFUND, 4)]


@pytest.mark.django_db
@pytest.mark.parametrize("code", [401, 402])
def test_kie_key_or_credit_problem_pauses_dispatch_and_keeps_work_queued(alice, fund, kie, tasks, code):
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    kie.fail_next(code, "Credits insufficient" if code == 402 else "Unauthorized")
    report = pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    assert report.paused
    assert pipeline.dispatch_is_paused()
    assert generation.status == Status.QUEUED and not generation.refunded
    assert generation.claimed_until is None
    # while paused nothing new is charged
    balance = generation.account.__class__.objects.get(pk=generation.account_id).balance
    with pytest.raises(ArtioError) as excinfo:
        create(alice)
    assert excinfo.value.code == "provider_unavailable" and excinfo.value.http_status == 503
    assert generation.account.__class__.objects.get(pk=generation.account_id).balance == balance
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []
    # KIE's credit check succeeds again → the poller resumes and the queued work goes out
    summary = pipeline.generations_poll(max_seconds=5)
    assert summary["resumed"] is True
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED


@pytest.mark.django_db
def test_a_402_while_re_reading_a_task_pauses_dispatch_too(alice, fund, kie, tasks):
    # given a generation KIE accepted
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED

    # when KIE answers 402 to the re-read (our KIE account ran dry meanwhile)
    kie.fail_next(402, "Credits insufficient", endpoint="recordInfo")
    with pytest.raises(KieError):
        pipeline.generation_refresh(generation_id=generation.pk)

    # then new work stops going out, and the generation is untouched for a later re-read
    assert pipeline.dispatch_is_paused()
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED and not generation.refunded


@pytest.mark.django_db
def test_transient_kie_errors_keep_it_queued_then_give_up_and_refund(alice, fund, kie, tasks, monkeypatch):
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    kie.fail_next(500, "Server Error", times=pipeline.DISPATCH_MAX_ATTEMPTS)
    for attempt in range(1, pipeline.DISPATCH_MAX_ATTEMPTS):
        pipeline.generations_dispatch(max_seconds=2)
        generation.refresh_from_db()
        assert generation.status == Status.QUEUED
        assert generation.dispatch_attempts == attempt
        assert generation.claimed_until > generation.created_at  # backing off
        Generation.objects.filter(pk=generation.pk).update(claimed_until=None)
    pipeline.generations_dispatch(max_seconds=2)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "provider_error"
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4), (LedgerKind.GENERATION_REFUND, 4)]


@pytest.mark.django_db
def test_kie_rejecting_the_input_fails_and_refunds(alice, fund, kie, tasks):
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    kie.fail_next(422, "aspect_ratio invalid")
    pipeline.generations_dispatch(max_seconds=2)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "rejected"
    assert "aspect_ratio invalid" in generation.error_message
    assert generation.refunded_credits == 4


@pytest.mark.django_db
def test_premium_accounts_are_dispatched_first(make_user, fund, kie, tasks):
    tasks.run = False
    free = [make_user() for _ in range(3)]
    for user in free:
        fund(user, 10)
    early = [create(user) for user in free]
    premium = make_user()
    fund(premium, 10, plan="premium")
    late_premium = create(premium)
    report = pipeline.generations_dispatch(max_seconds=5, max_count=2)
    assert report.submitted == [late_premium.public_id, early[0].public_id]


@pytest.mark.django_db
def test_staff_fail_and_refund_happens_once_and_leaves_finished_work_alone(alice, fund, kie, tasks):
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    assert services.generation_cancel(generation_id=generation.pk) is True
    assert services.generation_cancel(generation_id=generation.pk) is False
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "cancelled"
    assert ledger(generation) == [(LedgerKind.GENERATION_CHARGE, -4), (LedgerKind.GENERATION_REFUND, 4)]
    # a cancelled generation is never sent
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []


@pytest.mark.django_db
def test_terminal_state_with_webhook_url_enqueues_the_partner_webhook(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    fund(alice, 20)
    tasks.run = False
    with django_capture_on_commit_callbacks(execute=True):
        generation = services.generation_create(
            user=alice,
            model_slug=FAST,
            data={"prompt": "x"},
            source="api",
            webhook_url="https://example.com/hook",
        )
        services.generation_cancel(generation_id=generation.pk)
    assert tasks.named("generation.tasks.partner_webhook_send") == [(generation.pk,)]


@pytest.mark.django_db
def test_a_callback_faster_than_recording_the_task_id_is_not_lost(alice, fund, kie, tasks, monkeypatch):
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    real_create = KieClient.create_task

    def create_then_callback(self, **kwargs):
        task_id = real_create(self, **kwargs)
        # KIE finishes and calls back before our worker has stored the task id
        pipeline.generation_callback_received(generation_id=generation.pk)
        return task_id

    monkeypatch.setattr(KieClient, "create_task", create_then_callback)
    tasks.run = True
    pipeline.generations_dispatch(max_seconds=5)
    refreshes = tasks.named("generation.tasks.generation_refresh")
    assert refreshes == [(generation.pk,), (generation.pk,)]  # the callback's, then the submit's
    wait_for(lambda: _refresh_done(generation))
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED and generation.callback_at is not None
