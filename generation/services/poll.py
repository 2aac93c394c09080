"""The scheduled sweep: un-pause, lost callbacks, deadlines, late successes, and waking the dispatcher."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .. import kie
from ..models import Generation, Status
from . import enqueue
from .outcome import generation_fail, generation_refresh
from .pause import dispatch_is_paused, dispatch_resume

logger = logging.getLogger("generation.services")

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
            completed_at__gt=now - timedelta(hours=LATE_RESULT_HOURS),
        )
        .exclude(kie_task_id="")
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=late_stale))
        .values_list("pk", flat=True)[:50]
    )
    _refresh_each(list(late), started=started, max_seconds=max_seconds, summary=summary, counter="late")

    if not dispatch_is_paused() and Generation.objects.filter(status=Status.QUEUED).exists():
        enqueue.dispatch_enqueue()
    return summary
