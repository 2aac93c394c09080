"""The worker side of the pipeline: dispatch to KIE, re-read results, store or refund, sweep.

    dispatch   generations_dispatch: lease the best queued generation (plan priority, then age) →
               take a global rate-limit slot → KIE createTask → queued→submitted (CAS); 401/402 pause
    outcome    KIE callback / poller → generation_refresh: re-read recordInfo → store images →
               succeeded, or → failed + refunded exactly once (generation_fail)
    poll       generations_poll: lost callbacks, deadlines, late successes, un-pausing

Every transition is a compare-and-swap on `status`, so a task delivered twice, a callback sent
twice, or a worker killed half-way ends in one outcome with one ledger effect. The request side
(quote, create, owner actions) is in services.py and calls into this module, never the reverse.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing.services import credits_refund
from catalog.schemas import kie_input

from . import kie, ratelimit, storage
from .models import ACTIVE_STATUSES, DispatchState, Generation, GenerationImage, Status

logger = logging.getLogger("generation.pipeline")

# Plain words for the failures users see on their cards.
ERROR_MESSAGES = {
    "deadline": "The model did not finish in time. Your credits were refunded.",
    "provider_error": "The image service kept failing, so we stopped trying. Your credits were refunded.",
    "rejected": "The image service refused this request. Your credits were refunded.",
    "generation_failed": "The model could not make this image. Your credits were refunded.",
    "result_invalid": "The model returned something that is not a usable image. Your credits were refunded.",
    "cancelled": "Cancelled by Artio staff. Your credits were refunded.",
    "cancelled_by_user": "You cancelled this generation. Your credits were refunded.",
}


# --- Queueing work for django-q2 (the one seam tests replace to run tasks in-process) ---------


WEBHOOK_TASK = "generation.tasks.partner_webhook_send"


_task_broker = {}  # pid -> this process's django-q2 broker


def task_enqueue(func, *args):
    # Imported when used, so importing the pipeline never loads django-q2 models before apps are ready.
    import os

    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    # async_task builds a broker per call (and the ORM one closes old connections outside a
    # transaction): keep one per process; keyed by pid, so a forked child builds its own.
    pid = os.getpid()
    broker = _task_broker.get(pid)
    if broker is None:
        _task_broker.clear()  # a forked child drops its parent's
        broker = _task_broker[pid] = get_broker()
    async_task(func, *args, broker=broker)


def dispatch_enqueue():
    """Ask a worker to send queued generations to KIE."""
    task_enqueue("generation.tasks.generation_dispatch")


def broker_in_database():
    """Return True when django-q2's queue is a table in our own database (the ORM broker)."""
    return settings.Q_CLUSTER.get("orm") == DEFAULT_DB_ALIAS


def dispatch_enqueue_with_commit():
    """Enqueue the dispatch of a generation being created, so no worker can see it before it commits.

    Call inside the creating transaction. With the ORM broker the queue row joins that transaction:
    it commits or rolls back with the generation, cannot be lost between commit and enqueue, and
    spares the request the connection close/reopen that django-q2's broker does outside one. Any
    other broker (Redis) is told after the commit.
    """
    if broker_in_database():
        dispatch_enqueue()
    else:
        transaction.on_commit(lambda: dispatch_enqueue())


def refresh_enqueue(generation_id):
    """Ask a worker to re-read the generation from KIE."""
    task_enqueue("generation.tasks.generation_refresh", generation_id)


def webhook_enqueue_on_commit(generation):
    """Tell the partner's webhook about a finished generation once the outcome is committed."""
    if generation.webhook_url:
        transaction.on_commit(lambda: task_enqueue(WEBHOOK_TASK, generation.pk))


# --- The dispatch pause (KIE answered 401 bad key or 402 out of credit) --------------------------


def dispatch_pause(*, reason):
    """Stop sending work to KIE (bad key, KIE out of credit) until staff or a credit check resumes."""
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=False).update(
        paused=True, reason=reason[:255], paused_at=timezone.now()
    )
    from artio.memo import memo_bump  # requests read the pause from memory (services._dispatch_paused)

    memo_bump("dispatch_pause")
    if changed:
        logger.error("KIE dispatch paused: %s", reason)
    return bool(changed)


def dispatch_resume():
    """Send work to KIE again, and wake a dispatcher for what queued up meanwhile."""
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=True).update(paused=False, reason="", paused_at=None)
    from artio.memo import memo_bump

    memo_bump("dispatch_pause")
    if changed:
        logger.warning("KIE dispatch resumed")
        dispatch_enqueue()
    return bool(changed)


def dispatch_is_paused():
    return DispatchState.objects.filter(pk=1, paused=True).exists()


def dispatch_pause_on_alert(exc):
    """Pause dispatch when a KIE error says staff must act; any KIE call may be the one to learn it."""
    if exc.alert:
        dispatch_pause(reason=f"KIE answered {exc.code}: {exc.message}")


# --- Outcome: re-read KIE, store the images and succeed, or fail and refund exactly once ---------


def generation_callback_received(*, generation_id):
    """Note KIE's "task changed" callback and have the task re-read (the body itself is not trusted)."""
    Generation.objects.filter(pk=generation_id).update(callback_at=timezone.now())
    refresh_enqueue(generation_id)


def generation_fail(*, generation_id, code, message="", kie_record=None):
    """Move an unfinished generation to failed and refund it, exactly once; return True if this did it."""
    text = message or ERROR_MESSAGES.get(code, "The generation failed. Your credits were refunded.")
    changes = {
        "status": Status.FAILED,
        "error_code": code,
        "error_message": text,
        "completed_at": timezone.now(),
    }
    if kie_record is not None:
        changes["kie_record"] = kie_record
    with transaction.atomic():
        won = Generation.objects.filter(pk=generation_id, status__in=ACTIVE_STATUSES).update(
            claimed_until=None, **changes
        )
        if not won:
            return False
        generation = Generation.objects.get(pk=generation_id)
        # The ledger's unique (kind, reference) makes a second refund of this generation impossible.
        credits_refund(
            account_id=generation.account_id,
            amount=generation.credits_charged,
            reference=generation.public_id,
            description=f"Refund: {code}",
        )
        Generation.objects.filter(pk=generation_id, refunded=False).update(
            refunded=True, refunded_credits=generation.credits_charged
        )
        webhook_enqueue_on_commit(generation)
    logger.info(
        "generation %s failed (%s), refunded %s", generation.public_id, code, generation.credits_charged
    )
    return True


def _images_store(*, generation, urls):
    """Download every result into our storage and record them once; return True if stored now."""
    client = kie.kie_client()
    saved = []
    try:
        for url in urls:
            content, _declared_type = client.download(url=url, max_bytes=settings.ARTIO_MAX_IMAGE_BYTES)
            saved.append(storage.image_save(content=content))
    except (kie.KieError, storage.ImageInvalid):
        for fields in saved:
            storage.image_delete(fields=fields)
        raise
    with transaction.atomic():
        # Never behind a purge: a generation whose images were deleted for good gets none back.
        won = Generation.objects.filter(
            pk=generation.pk, images_stored_at__isnull=True, purged_at__isnull=True
        ).update(images_stored_at=timezone.now())
        if won:
            GenerationImage.objects.bulk_create(
                [GenerationImage(generation_id=generation.pk, position=i, **f) for i, f in enumerate(saved)]
            )
    if not won:
        # Another worker stored this result first (ours are duplicates), or it was purged.
        for fields in saved:
            storage.image_delete(fields=fields)
    return bool(won)


def _succeed(*, generation, record):
    if not record.result_urls:
        return generation_fail(generation_id=generation.pk, code="result_invalid", kie_record=record.raw)
    try:
        _images_store(generation=generation, urls=record.result_urls)
    except storage.ImageInvalid:
        return generation_fail(generation_id=generation.pk, code="result_invalid", kie_record=record.raw)
    except kie.KieError as exc:
        if exc.retryable:
            raise
        return generation_fail(generation_id=generation.pk, code="result_invalid", kie_record=record.raw)
    with transaction.atomic():
        won = Generation.objects.filter(pk=generation.pk, status__in=ACTIVE_STATUSES).update(
            status=Status.SUCCEEDED, completed_at=timezone.now(), kie_record=record.raw
        )
        if won:
            webhook_enqueue_on_commit(generation)
    return bool(won)


def _fail_message(record):
    detail = (record.fail_msg or "").strip()
    base = ERROR_MESSAGES["generation_failed"]
    return f"{base} (The model said: {detail[:300]})" if detail else base


def _late_result_store(*, generation, record):
    """Keep the images of a success that came after the deadline refunded it; the refund stands."""
    if not (record.succeeded and record.result_urls):
        return
    try:
        _images_store(generation=generation, urls=record.result_urls)
        logger.info("generation %s: late result stored after refund", generation.public_id)
    except storage.ImageInvalid:
        logger.warning("generation %s: late result is not an image", generation.public_id)


def generation_refresh(*, generation_id):
    """Re-read a generation's task from KIE and apply what it says. Safe to call any number of times.

    Also stores the images of a success that arrives after the deadline failed (and refunded) the
    generation: the refund stands and the images are the user's to keep.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or not generation.kie_task_id:
        return None
    late = (
        generation.status == Status.FAILED
        and generation.error_code == "deadline"
        and generation.images_stored_at is None
        and generation.purged_at is None
    )
    if generation.status not in (Status.SUBMITTED, Status.RUNNING) and not late:
        return generation.status
    try:
        record = kie.kie_client().record_info(task_id=generation.kie_task_id)
    except kie.KieError as exc:
        dispatch_pause_on_alert(exc)
        raise
    Generation.objects.filter(pk=generation.pk).update(last_checked_at=timezone.now())
    if late:
        _late_result_store(generation=generation, record=record)
        return Status.FAILED
    if record.succeeded:
        _succeed(generation=generation, record=record)
    elif record.failed:
        generation_fail(
            generation_id=generation.pk,
            code="generation_failed",
            message=_fail_message(record),
            kie_record=record.raw,
        )
    else:
        Generation.objects.filter(pk=generation.pk, status=Status.SUBMITTED).update(
            status=Status.RUNNING, kie_record=record.raw
        )
    return Generation.objects.values_list("status", flat=True).get(pk=generation.pk)


# --- Dispatch: leases, the global rate limit, retries ----------------------------------------------

# A worker holds a queued generation this long while it waits for a slot and calls createTask;
# equal to the queue timeout, so a killed worker's lease has expired before the task is re-delivered.
DISPATCH_LEASE_SECONDS = 60
# Transient createTask failures (429, 5xx, timeouts) are retried this many times, backing off.
DISPATCH_MAX_ATTEMPTS = 6


def _lease_next(*, now):
    """Lease the queued generation to send next: highest plan priority, then oldest."""
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    candidates = (
        Generation.objects.filter(free, status=Status.QUEUED)
        .order_by("-priority", "id")
        .values_list("pk", "claimed_until")[:10]
    )
    until = now + timedelta(seconds=DISPATCH_LEASE_SECONDS)
    for pk, claimed in candidates:
        # Compare-and-swap on the lease we read, so two workers never send the same generation.
        if Generation.objects.filter(pk=pk, status=Status.QUEUED, claimed_until=claimed).update(
            claimed_until=until
        ):
            return Generation.objects.select_related("model").get(pk=pk)
    return None


def _callback_url(generation):
    return settings.ARTIO_PUBLIC_URL + reverse("generation-kie-callback", args=[generation.callback_token])


def _release(generation, *, backoff=0.0, attempt=False):
    changes = {"claimed_until": timezone.now() + timedelta(seconds=backoff) if backoff else None}
    if attempt:
        changes["dispatch_attempts"] = generation.dispatch_attempts + 1
    Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(**changes)


@dataclass
class DispatchReport:
    submitted: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    deferred: list = field(default_factory=list)
    paused: bool = False


def generation_submit(*, generation, client, report):
    """Send one leased generation to KIE; the caller holds a rate-limit slot."""
    try:
        task_id = client.create_task(
            model=generation.model.kie_model,
            input=kie_input(generation.model.input_schema, generation.input),
            callback_url=_callback_url(generation),
        )
    except kie.KieError as exc:
        _submit_failed(generation=generation, exc=exc, report=report)
        return None
    moved = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(
        status=Status.SUBMITTED, kie_task_id=task_id, submitted_at=timezone.now(), claimed_until=None
    )
    if not moved:
        # Cancelled (by staff or its owner) while we were calling KIE; the KIE task runs unseen.
        logger.warning(
            "generation %s left queued before KIE task %s was recorded", generation.public_id, task_id
        )
        return None
    report.submitted.append(generation.public_id)
    if Generation.objects.filter(pk=generation.pk, callback_at__isnull=False).exists():
        # KIE called back before the task id was recorded; that callback's re-read found nothing.
        refresh_enqueue(generation.pk)
    return task_id


def _submit_failed(*, generation, exc, report):
    """Apply KIE's rule for a createTask error: pause and alert, retry later, or fail and refund."""
    if exc.alert:
        _release(generation)
        dispatch_pause_on_alert(exc)
        report.paused = True
    elif exc.retryable and generation.dispatch_attempts + 1 < DISPATCH_MAX_ATTEMPTS:
        logger.warning("createTask for %s failed, will retry: %r", generation.public_id, exc)
        _release(generation, backoff=min(5 * 2**generation.dispatch_attempts, 300), attempt=True)
        report.deferred.append(generation.public_id)
    else:
        logger.warning("createTask for %s failed for good: %r", generation.public_id, exc)
        code = "provider_error" if exc.retryable else "rejected"
        message = "" if exc.retryable else f"{ERROR_MESSAGES['rejected']} ({exc.message[:300]})"
        generation_fail(generation_id=generation.pk, code=code, message=message)
        report.failed.append(generation.public_id)


def generations_dispatch(*, max_seconds=40.0, max_count=None):
    """Send queued generations to KIE at the global rate until none is left or time runs out.

    Any number of workers may run this at once: the lease and the rate-limit slots are shared
    through the database.
    """
    report = DispatchReport()
    deadline = time.monotonic() + max_seconds
    client = kie.kie_client()
    while max_count is None or len(report.submitted) + len(report.failed) < max_count:
        if dispatch_is_paused():
            report.paused = True
            break
        generation = _lease_next(now=timezone.now())
        if generation is None:
            break
        slot = ratelimit.create_slot_acquire(timeout=max(0.0, deadline - time.monotonic()))
        if slot is None:
            _release(generation)
            break
        try:
            generation_submit(generation=generation, client=client, report=report)
        finally:
            ratelimit.create_slot_release(slot)
        if report.paused or time.monotonic() >= deadline:
            break
    return report


# --- The scheduled sweep ----------------------------------------------------------------------------

# Poll KIE for a submitted generation whose callback has not come after this long.
POLL_AFTER_SECONDS = 20
# KIE keeps results about 24 h: a late success after our deadline is still worth storing until then.
LATE_RESULT_HOURS = 24


def _resume_if_kie_is_back():
    try:
        return kie.kie_client().account_credit() > 0 and dispatch_resume()
    except kie.KieError as exc:
        logger.info("KIE still unavailable while paused: %r", exc)
        return False


def _refresh_each(pks, *, started, max_seconds, summary, counter):
    for pk in pks:
        if time.monotonic() - started > max_seconds:
            break
        try:
            generation_refresh(generation_id=pk)
            summary[counter] += 1
        except kie.KieError as exc:
            summary["errors"] += 1
            logger.warning("recordInfo for generation %s failed: %r", pk, exc)


def generations_poll(*, max_seconds=40.0):
    """One sweep of the scheduled poller: un-pause, dispatch, lost callbacks, deadlines, late results."""
    started = time.monotonic()
    now = timezone.now()
    summary = {"resumed": False, "refreshed": 0, "deadline": 0, "late": 0, "errors": 0}
    if dispatch_is_paused():
        summary["resumed"] = _resume_if_kie_is_back()

    in_flight = (Status.SUBMITTED, Status.RUNNING)
    stale = now - timedelta(seconds=POLL_AFTER_SECONDS)
    due = (
        Generation.objects.filter(status__in=in_flight, submitted_at__lt=stale)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=stale))
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:200]
    )
    _refresh_each(list(due), started=started, max_seconds=max_seconds, summary=summary, counter="refreshed")

    deadline_at = now - timedelta(seconds=settings.KIE_DEADLINE_SECONDS)
    overdue = Generation.objects.filter(status__in=in_flight, submitted_at__lt=deadline_at)
    for pk in list(overdue.values_list("pk", flat=True)):
        summary["deadline"] += int(generation_fail(generation_id=pk, code="deadline"))

    late_stale = now - timedelta(minutes=2)
    late = (
        Generation.objects.filter(
            status=Status.FAILED,
            error_code="deadline",
            images_stored_at__isnull=True,
            purged_at__isnull=True,
            completed_at__gt=now - timedelta(hours=LATE_RESULT_HOURS),
        )
        .exclude(kie_task_id="")
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=late_stale))
        .values_list("pk", flat=True)[:50]
    )
    _refresh_each(list(late), started=started, max_seconds=max_seconds, summary=summary, counter="late")

    if not dispatch_is_paused() and Generation.objects.filter(status=Status.QUEUED).exists():
        dispatch_enqueue()
    return summary
