"""Send queued generations to KIE: leases, the global rate limit, retries, and the 401/402 pause."""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from catalog.schemas import kie_input

from .. import kie, ratelimit
from ..models import Generation, Status
from . import enqueue
from .errors import ERROR_MESSAGES
from .outcome import generation_fail
from .pause import dispatch_is_paused, dispatch_pause_on_alert

logger = logging.getLogger("generation.services")

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
        enqueue.refresh_enqueue(generation.pk)
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
