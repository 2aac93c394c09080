"""The worker side of the pipeline: dispatch to KIE, re-read results, store or refund, sweep.

    dispatch   one dispatcher loop at a time (a lease on DispatchState), on its own django-q2
               cluster: take a global rate-limit slot → mark the best queued generation (plan
               priority, then age) "sending" → KIE createTask → queued→submitted (CAS); 401/402 pause
    outcome    KIE callback (coalesced) / poller → generation_refresh: re-read recordInfo → store
               images → succeeded (refunding images KIE did not deliver), or → failed + refunded
               exactly once (generation_fail); a callback may adopt a task a dead worker never recorded
    poll       generations_poll: lost callbacks, deadlines, late successes, un-pausing

Every transition is a compare-and-swap on `status`, so a task delivered twice, a callback sent
twice, or a worker killed half-way ends in one outcome with one ledger effect. The request side
(quote, create, owner actions) is in services.py and calls into this module, never the reverse.
"""

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.services import credits_refund
from catalog.models import PriceUnit
from catalog.schemas import kie_input

from . import kie, kietasks, ratelimit, storage
from .kietasks import callback_url
from .models import ACTIVE_STATUSES, DispatchState, Generation, GenerationImage, KieTaskSource, Status

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
DISPATCH_TASK = "generation.tasks.generation_dispatch"
REFRESH_TASK = "generation.tasks.generation_refresh"
# The dispatcher runs on a django-q2 cluster of its own (Q_CLUSTER["ALT_CLUSTERS"]), so pacing
# createTask never occupies the workers that store results; everything else uses the default one.
DISPATCH_CLUSTER = "dispatch"


_task_broker = {}  # (pid, cluster) -> this process's django-q2 broker for that cluster's queue


def task_enqueue(func, *args, cluster=None):
    # Imported when used, so importing the pipeline never loads django-q2 models before apps are ready.
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    # async_task builds a broker per call (and the ORM one closes old connections outside a
    # transaction): keep one per process and queue; keyed by pid, so a forked child builds its own.
    key = (os.getpid(), cluster)
    broker = _task_broker.get(key)
    if broker is None:
        if not any(pid == key[0] for pid, _cluster in _task_broker):
            _task_broker.clear()  # a forked child drops its parent's
        broker = _task_broker[key] = get_broker(cluster)
    async_task(func, *args, broker=broker, **({"cluster": cluster} if cluster else {}))


def dispatch_enqueue():
    """Wake the dispatcher: it takes the lease, or finds another loop holding it and returns."""
    task_enqueue(DISPATCH_TASK, cluster=DISPATCH_CLUSTER)


def dispatcher_is_running(*, now=None):
    """Return True while a dispatcher loop holds a live lease."""
    now = timezone.now() if now is None else now
    return DispatchState.objects.filter(pk=1, dispatcher_until__gt=now).exists()


def broker_in_database():
    """Return True when django-q2's queue is a table in our own database (the ORM broker)."""
    return settings.Q_CLUSTER.get("orm") == DEFAULT_DB_ALIAS


def dispatch_enqueue_with_commit():
    """Enqueue the dispatch of a generation being created, so no worker can see it before it commits.

    Call inside the creating transaction. A running dispatcher is not woken again: it re-checks the
    queue before it lets go of its lease (and the poller wakes one every minute), so a burst of
    requests enqueues one task, not one each. A plain read, no lock: creates never queue on the
    dispatcher's row. With the ORM broker the queue row joins that transaction: it commits or rolls
    back with the generation, cannot be lost between commit and enqueue, and spares the request the
    connection close/reopen that django-q2's broker does outside one. Any other broker (Redis) is
    told after the commit.

    A lease its holder has not renewed for DISPATCHER_STALE_SECONDS may belong to a dead worker (a
    host lost mid-loop): then one request per lease period wakes a standby, which takes over the
    moment the lease lapses rather than at the poller's next minute.
    """
    until = DispatchState.objects.filter(pk=1).values_list("dispatcher_until", flat=True).first()
    if until is not None and until > timezone.now() and not (_lease_is_stale(until) and _standby_claim()):
        return
    if broker_in_database():
        dispatch_enqueue()
    else:
        transaction.on_commit(lambda: dispatch_enqueue())


def _lease_is_stale(until, *, now=None):
    now = timezone.now() if now is None else now
    return until - now < timedelta(seconds=DISPATCHER_LEASE_SECONDS - DISPATCHER_STALE_SECONDS)


def _standby_claim():
    """Return True for the first caller per lease period (the shared cache decides across hosts)."""
    from django.core.cache import cache

    return cache.add("artio:dispatch:standby", 1, timeout=DISPATCHER_LEASE_SECONDS)


def refresh_enqueue(generation_id, task_id=None):
    """Ask a worker to re-read the generation from KIE (adopting `task_id` if it has none yet)."""
    if task_id:
        task_enqueue(REFRESH_TASK, generation_id, task_id)
    else:
        task_enqueue(REFRESH_TASK, generation_id)


# A queued re-read older than this is presumed lost (its task died), so a callback asks again.
REFRESH_REQUEST_STALE_SECONDS = 120


def refresh_request(generation_id, task_id=None):
    """Enqueue a re-read unless one is already pending for this generation; return True if enqueued.

    KIE may call back several times for one task; each would otherwise cost a recordInfo and,
    on two workers at once, a second download of every image.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=REFRESH_REQUEST_STALE_SECONDS)
    pending = Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=stale)
    if not Generation.objects.filter(pending, pk=generation_id).update(refresh_requested_at=now):
        return False
    refresh_enqueue(generation_id, task_id)
    return True


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


def generation_callback_received(*, generation_id, task_id=None):
    """Note KIE's "task changed" callback and have the task re-read (the body itself is not trusted).

    `task_id` is the body's taskId: it lets the re-read adopt a task whose createTask answer was
    never recorded (the worker died mid-call), once recordInfo confirms it is ours.
    """
    Generation.objects.filter(pk=generation_id).update(callback_at=timezone.now())
    if task_id and not Generation.objects.filter(pk=generation_id, kie_task_id="").exists():
        task_id = None  # already recorded; the view checked that the body names that task
    refresh_request(generation_id, task_id)


KIE_TASK_CHECK_TASK = "generation.tasks.kie_task_check"


def kie_task_callback_received(*, task_id, generation_id=None):
    """A callback named a task that is not its generation's (or came for no generation we know).

    It may be a duplicate send KIE bills too, or a task we never recorded: have a worker confirm it
    with recordInfo and keep it for reconciliation, unless its bill is known already (KIE retries
    callbacks). Returns True if a check was enqueued.
    """
    if not task_id or len(task_id) > 100 or kietasks.kie_task_known_finished(task_id=task_id):
        return False
    if generation_id:
        task_enqueue(KIE_TASK_CHECK_TASK, task_id, generation_id)
    else:
        task_enqueue(KIE_TASK_CHECK_TASK, task_id)
    return True


def generation_fail(*, generation_id, code, message="", kie_record=None):
    """Move an unfinished generation to failed and refund it, exactly once; return True if this did it."""
    text = message or ERROR_MESSAGES.get(code, "The generation failed. Your credits were refunded.")
    changes = {
        "status": Status.FAILED,
        "error_code": code,
        "error_message": text,
        "completed_at": timezone.now(),
        "sending_at": None,
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
            _shortfall_refund(generation=generation)
            webhook_enqueue_on_commit(generation)
    return bool(won)


def _shortfall_refund(*, generation):
    """Refund the images paid for that KIE did not deliver, once (call as the generation succeeds).

    Only per-image prices: a per-task price bought the task, however many images it made. The
    refund is the charged share of the missing images rounded down, so it never exceeds what was
    charged, discounts included. The ledger's unique (kind, reference) makes it happen once.
    """
    requested = generation.images_requested
    delivered = GenerationImage.objects.filter(generation_id=generation.pk).count()
    if delivered >= requested or generation.price.unit != PriceUnit.PER_IMAGE:
        return 0
    amount = generation.credits_charged * (requested - delivered) // requested
    if amount <= 0:
        return 0
    credits_refund(
        account_id=generation.account_id,
        amount=amount,
        reference=f"{generation.public_id}:partial",
        description=f"Partial refund: {delivered} of {requested} images delivered",
    )
    Generation.objects.filter(pk=generation.pk, refunded=False).update(refunded=True, refunded_credits=amount)
    logger.info(
        "generation %s: %s of %s images, refunded %s", generation.public_id, delivered, requested, amount
    )
    return amount


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


def _record_read(task_id):
    try:
        return kie.kie_client().record_info(task_id=task_id)
    except kie.KieError as exc:
        dispatch_pause_on_alert(exc)
        raise


def task_adopt(*, generation_id, task_id):
    """Record KIE's `task_id` for a generation whose createTask answer never reached us; return True.

    A worker died (or timed out) mid-createTask, so KIE may have the task while the generation is
    still "sending". KIE's callback names the task; recordInfo confirms it exists and, when KIE
    echoes the request, that it was sent with this generation's callback URL. Adopting it instead
    of sending again is what keeps us from paying KIE twice.
    """
    adoptable = Generation.objects.filter(
        pk=generation_id, status=Status.QUEUED, kie_task_id="", sending_at__isnull=False
    )
    generation = adoptable.first()
    if generation is None:
        return False
    record = _record_read(task_id)
    param = record.raw.get("param")
    sent_to = param.get("callBackUrl") if isinstance(param, dict) else None
    if sent_to is not None and sent_to != callback_url(generation):
        logger.warning(
            "generation %s: callback named task %s of another request", generation.public_id, task_id
        )
        kietasks.kie_task_note(task_id=task_id, source=KieTaskSource.CALLBACK, record=record)
        return False
    kietasks.kie_task_note(
        task_id=task_id, source=KieTaskSource.ADOPT, generation_id=generation.pk, record=record
    )
    adopted = adoptable.update(
        status=Status.SUBMITTED,
        kie_task_id=task_id,
        submitted_at=timezone.now(),
        claimed_until=None,
        sending_at=None,
    )
    if adopted:
        logger.warning(
            "generation %s: adopted KIE task %s its sender never recorded", generation.public_id, task_id
        )
    return bool(adopted)


def generation_refresh_requested(*, generation_id, task_id=None):
    """Run the re-read a callback asked for: clear the pending mark first, adopt, then re-read.

    Clearing before reading means a callback that arrives during this re-read asks for one more.
    """
    Generation.objects.filter(pk=generation_id).update(refresh_requested_at=None)
    if task_id:
        task_adopt(generation_id=generation_id, task_id=task_id)
    return generation_refresh(generation_id=generation_id)


def generation_refresh(*, generation_id):
    """Re-read a generation's task from KIE and apply what it says. Safe to call any number of times.

    Also stores the images of a success that arrives after the deadline failed (and refunded) the
    generation: the refund stands and the images are the user's to keep.
    """
    generation = Generation.objects.select_related("price").filter(pk=generation_id).first()
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
    record = _record_read(generation.kie_task_id)
    Generation.objects.filter(pk=generation.pk).update(last_checked_at=timezone.now())
    kietasks.kie_task_seen(
        generation=generation, task_id=generation.kie_task_id, source=KieTaskSource.RECORD, record=record
    )
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


# --- Dispatch: one dispatcher loop, the global rate limit, the "sending" mark, retries -------------

# A generation being sent is held this long, which also serves as the back-off after a transient
# KIE error.
DISPATCH_LEASE_SECONDS = 60
# Transient createTask failures (429, 5xx, timeouts) are retried this many times, backing off.
DISPATCH_MAX_ATTEMPTS = 6
# A generation still "sending" this long after its createTask began was left by a dead worker (or a
# call that timed out): KIE may have the task. Until then only its callback may adopt it; after,
# it is sent again and counted as a possible duplicate. Longer than the createTask timeout (3 + 20 s)
# with room for a fast model's callback.
SENDING_GRACE_SECONDS = 90
# The dispatcher's lease outlives the longest gap between renewals: a slot wait (at most
# DISPATCHER_SLOT_WAIT_SECONDS) plus one createTask. A killed dispatcher is replaced after it.
DISPATCHER_LEASE_SECONDS = 45
DISPATCHER_SLOT_WAIT_SECONDS = 10.0
# A live holder renews every slot wait plus one createTask, so a lease not renewed for this long
# suggests a dead one: a standby then waits for the lease to lapse instead of going away.
DISPATCHER_STALE_SECONDS = 20


def dispatcher_holder_id():
    """Name this dispatcher loop "<host>/<pid>/<random>", so staff (and the cluster test) can tell
    which host and process holds the lease; the random part keeps two loops of one process apart."""
    return f"{socket.gethostname()[:40]}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def _dispatcher_lease_take(*, holder):
    DispatchState.objects.get_or_create(pk=1)
    now = timezone.now()
    free = Q(dispatcher_until__isnull=True) | Q(dispatcher_until__lte=now)
    # Compare-and-swap on the singleton row: of two loops starting at once, one takes it.
    return bool(
        DispatchState.objects.filter(free, pk=1).update(
            dispatcher_id=holder, dispatcher_until=now + timedelta(seconds=DISPATCHER_LEASE_SECONDS)
        )
    )


def _dispatcher_lease_wait(*, holder, max_seconds):
    """Stand by while a stale lease runs out, then take it; return False if its holder is alive.

    The holder is alive when it renews (its lease is fresh again) or lets go and someone else
    takes it; either way this standby leaves the work to it.
    """
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        until = DispatchState.objects.filter(pk=1).values_list("dispatcher_until", flat=True).first()
        if until is None or until <= timezone.now():
            return _dispatcher_lease_take(holder=holder)
        if not _lease_is_stale(until):
            return False
        time.sleep(min(1.0, max(0.05, (until - timezone.now()).total_seconds())))
    return False


def _dispatcher_lease_renew(*, holder):
    until = timezone.now() + timedelta(seconds=DISPATCHER_LEASE_SECONDS)
    return bool(DispatchState.objects.filter(pk=1, dispatcher_id=holder).update(dispatcher_until=until))


def _dispatcher_lease_release(*, holder):
    DispatchState.objects.filter(pk=1, dispatcher_id=holder).update(dispatcher_id="", dispatcher_until=None)


def _sendable(*, now):
    """Return the queued generations that may be sent now: not backing off, not possibly at KIE."""
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    settled = Q(sending_at__isnull=True) | Q(sending_at__lt=now - timedelta(seconds=SENDING_GRACE_SECONDS))
    return Generation.objects.filter(free, settled, status=Status.QUEUED, kie_task_id="")


def _lease_next(*, now):
    """Mark the queued generation to send next "sending": highest plan priority, then oldest."""
    candidates = (
        _sendable(now=now).order_by("-priority", "id").values_list("pk", "claimed_until", "sending_at")
    )
    until = now + timedelta(seconds=DISPATCH_LEASE_SECONDS)
    for pk, claimed, sending in candidates[:10]:
        changes = {"claimed_until": until, "sending_at": now}
        if sending is not None:
            # Its last createTask never told us a task id, and no callback adopted one in the grace
            # period: KIE may run (and bill) both.
            changes["possible_duplicate_sends"] = F("possible_duplicate_sends") + 1
        # Compare-and-swap on what we read, so no two senders ever send the same generation.
        if Generation.objects.filter(
            pk=pk, status=Status.QUEUED, kie_task_id="", claimed_until=claimed, sending_at=sending
        ).update(**changes):
            generation = Generation.objects.select_related("model").get(pk=pk)
            if sending is not None:
                logger.warning("generation %s: sending again; KIE may already have it", generation.public_id)
            return generation
    return None


def _release(generation, *, backoff=0.0, attempt=False, maybe_sent=False):
    changes = {"claimed_until": timezone.now() + timedelta(seconds=backoff) if backoff else None}
    if attempt:
        changes["dispatch_attempts"] = generation.dispatch_attempts + 1
    if not maybe_sent:
        changes["sending_at"] = None
    Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(**changes)


@dataclass
class DispatchReport:
    submitted: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    deferred: list = field(default_factory=list)
    paused: bool = False
    # Another dispatcher held the lease, so this one sent nothing.
    busy: bool = False
    # The lease was lost mid-run (renewed too late); the loop stopped before sending more.
    lost: bool = False


def generation_submit(*, generation, client, report):
    """Send one generation marked "sending" to KIE; the caller holds a rate-limit slot."""
    try:
        task_id = client.create_task(
            model=generation.model.kie_model,
            input=kie_input(generation.model.input_schema, generation.input),
            callback_url=callback_url(generation),
        )
    except kie.KieError as exc:
        _submit_failed(generation=generation, exc=exc, report=report)
        return None
    # Kept before anything else: whatever happens to the generation now, KIE runs (and bills) this task.
    kietasks.kie_task_note(
        task_id=task_id,
        source=KieTaskSource.CREATE,
        generation_id=generation.pk,
        kie_model=generation.model.kie_model,
    )
    moved = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED, kie_task_id="").update(
        status=Status.SUBMITTED,
        kie_task_id=task_id,
        submitted_at=timezone.now(),
        claimed_until=None,
        sending_at=None,
    )
    if not moved:
        current = Generation.objects.values_list("kie_task_id", flat=True).get(pk=generation.pk)
        if current == task_id:
            report.submitted.append(generation.public_id)  # its callback came first and adopted it
            return task_id
        # Cancelled (by staff or its owner) while we were calling KIE, or an earlier send was
        # adopted meanwhile; this KIE task runs unseen.
        logger.warning(
            "generation %s moved on before KIE task %s was recorded", generation.public_id, task_id
        )
        return None
    report.submitted.append(generation.public_id)
    if Generation.objects.filter(pk=generation.pk, callback_at__isnull=False).exists():
        # KIE called back before the task id was recorded; that callback's re-read found nothing.
        refresh_request(generation.pk)
    return task_id


def _submit_failed(*, generation, exc, report):
    """Apply KIE's rule for a createTask error: pause and alert, retry later, or fail and refund."""
    # No answer at all (a timeout, a dropped connection): KIE may have created the task, so it
    # stays "sending" for its callback to adopt, and a re-send waits out the grace period.
    maybe_sent = exc.code is None
    if exc.alert:
        _release(generation)
        dispatch_pause_on_alert(exc)
        report.paused = True
    elif exc.retryable and generation.dispatch_attempts + 1 < DISPATCH_MAX_ATTEMPTS:
        logger.warning("createTask for %s failed, will retry: %r", generation.public_id, exc)
        backoff = min(5 * 2**generation.dispatch_attempts, 300)
        _release(generation, backoff=backoff, attempt=True, maybe_sent=maybe_sent)
        report.deferred.append(generation.public_id)
    else:
        logger.warning("createTask for %s failed for good: %r", generation.public_id, exc)
        code = "provider_error" if exc.retryable else "rejected"
        message = "" if exc.retryable else f"{ERROR_MESSAGES['rejected']} ({exc.message[:300]})"
        generation_fail(generation_id=generation.pk, code=code, message=message)
        report.failed.append(generation.public_id)


def generations_dispatch(*, max_seconds=40.0, max_count=None):
    """Be the dispatcher for up to `max_seconds`: send queued generations to KIE at the global rate.

    Only the holder of the dispatcher lease sends, so at most one loop runs across every worker
    and host; another caller gets a report with `busy` set, unless the lease looks stale (its holder
    may be dead): then it stands by until the lease lapses and takes over, within the same
    `max_seconds`. The rate-limit slot is taken before a
    generation is chosen, so whatever premium work arrived during the wait goes first.
    """
    report = DispatchReport()
    holder = dispatcher_holder_id()
    started = time.monotonic()
    if not _dispatcher_lease_take(holder=holder) and not _dispatcher_lease_wait(
        holder=holder, max_seconds=max_seconds
    ):
        report.busy = True
        return report
    max_seconds -= time.monotonic() - started  # a standby's wait comes out of the same budget
    try:
        _dispatch_loop(holder=holder, report=report, max_seconds=max_seconds, max_count=max_count)
    finally:
        _dispatcher_lease_release(holder=holder)
    return report


def _dispatch_loop(*, holder, report, max_seconds, max_count):
    deadline = time.monotonic() + max_seconds
    client = kie.kie_client()
    while max_count is None or len(report.submitted) + len(report.failed) < max_count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if dispatch_is_paused():
            report.paused = True
            break
        if not _dispatcher_lease_renew(holder=holder):
            report.lost = True
            break
        if not _sendable(now=timezone.now()).exists():
            break
        slot = ratelimit.create_slot_acquire(timeout=min(remaining, DISPATCHER_SLOT_WAIT_SECONDS))
        if slot is None:
            continue
        generation = _lease_next(now=timezone.now())
        if generation is None:
            ratelimit.create_slot_return(slot)  # cancelled meanwhile; the slot was never used
            continue
        try:
            generation_submit(generation=generation, client=client, report=report)
        finally:
            ratelimit.create_slot_release(slot)
        if report.paused:
            break


def dispatcher_run(*, max_seconds):
    """Run the dispatcher (the queue task's body), and wake the next one if work is left.

    The check after letting go of the lease also catches a generation created while this loop
    was finishing, whose request saw the lease still held and woke nobody.
    """
    report = generations_dispatch(max_seconds=max_seconds)
    if report.busy or report.lost or report.paused:
        return report
    if _sendable(now=timezone.now()).exists():
        dispatch_enqueue()
    return report


# --- The scheduled sweep ----------------------------------------------------------------------------

# Poll KIE for a submitted generation whose callback has not come after this long.
POLL_AFTER_SECONDS = 20
# Sendable work older than this while no dispatcher holds the lease means none is running.
DISPATCH_STALLED_SECONDS = 300
# KIE keeps results about 24 h: a late success after our deadline is still worth storing until then.
LATE_RESULT_HOURS = 24


def dispatch_stalled(*, now=None):
    """Return True when sendable work has waited minutes while no dispatcher holds the lease: the
    dispatch cluster is not running (or dispatch is not paused and still nothing moves)."""
    now = now or timezone.now()
    if dispatch_is_paused() or dispatcher_is_running(now=now):
        return False
    return (
        _sendable(now=now).filter(created_at__lt=now - timedelta(seconds=DISPATCH_STALLED_SECONDS)).exists()
    )


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
        except Exception:
            # Storage down (S3 answering 500), or one bad row: the sweep goes on with the others,
            # its deadlines and the dispatcher's wake-up; this one is retried at the next sweep.
            summary["errors"] += 1
            logger.exception("re-reading generation %s failed", pk)


def generations_poll(*, max_seconds=40.0):
    """One sweep of the scheduled poller: un-pause, dispatch, lost callbacks, deadlines, late results."""
    started = time.monotonic()
    now = timezone.now()
    summary = {
        "resumed": False,
        "refreshed": 0,
        "deadline": 0,
        "late": 0,
        "errors": 0,
        "dispatch_stalled": False,
    }
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

    if not dispatch_is_paused() and not dispatcher_is_running():
        sendable = _sendable(now=now)
        if sendable.exists():
            dispatch_enqueue()
        if dispatch_stalled(now=now):
            summary["dispatch_stalled"] = True
            logger.error(
                "queued generations are not being sent: start `Q_CLUSTER_NAME=dispatch manage.py qcluster`"
            )
    return summary
