"""Every KIE task we were given or saw, and what KIE billed for it (KieTask, Generation's bill).

KIE reports the credits it billed per task (`creditsConsumed`, fractional, 0 on failure); we keep
them per task and on the generation, with their cost in USD at the rate in force when KIE first
reported them, so ops can set wholesale beside retail per job and reconcile with KIE. Sightings
come from createTask answers and recordInfo reads (pipeline.py), and from callbacks naming a task
that is not their generation's, once recordInfo confirms it (`kie_task_check`).
"""

import logging
import time

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from catalog.selectors import catalog_settings_get, kie_cost_usd

from . import kie
from .models import Generation, KieTask, KieTaskSource

logger = logging.getLogger("generation.kietasks")


def callback_url(generation):
    """Return the URL KIE calls back for this generation's task (its secret token in the path)."""
    return settings.ARTIO_PUBLIC_URL + reverse("generation-kie-callback", args=[generation.callback_token])


def _billed(record):
    """Return the credits a finished task record reports, or None (running, or not reported)."""
    if record is None or not record.finished:
        return None
    return record.credits_consumed


def _bill_set(queryset, *, credits, credits_field, cost_field):
    # Only a changed bill is written, so the USD cost keeps the rate in force when KIE reported it.
    changed = queryset.filter(Q(**{f"{credits_field}__isnull": True}) | ~Q(**{credits_field: credits}))
    cost = kie_cost_usd(kie_credits=credits, settings=catalog_settings_get())
    return changed.update(**{credits_field: credits, cost_field: cost})


def kie_task_note(*, task_id, source, generation_id=None, record=None, kie_model=""):
    """Record a sighting of KIE task `task_id` (and what `record`, a TaskRecord, says); return the row.

    Safe to call any number of times: the row is found by task id; a generation is set only on a
    row that has none, never changed; the bill is written only once KIE reports the task finished.
    """
    if not task_id or len(task_id) > 100:
        return None
    now = timezone.now()
    model = kie_model or (str(record.raw.get("model") or "")[:100] if record is not None else "")
    seen = {}
    if record is not None:
        seen["state"] = record.state[:20]
        if record.completed_at:
            seen["completed_at"] = record.completed_at
    task, created = KieTask.objects.get_or_create(
        task_id=task_id,
        defaults={
            "generation_id": generation_id,
            "kie_model": model,
            "source": source,
            "seen_at": now,
            **seen,
        },
    )
    rows = KieTask.objects.filter(pk=task.pk)
    if not created:
        if model and not task.kie_model:
            seen["kie_model"] = model
        rows.update(seen_at=now, **seen)
        if generation_id and task.generation_id is None:
            rows.filter(generation__isnull=True).update(generation_id=generation_id)
    credits = _billed(record)
    if credits is not None:
        _bill_set(rows, credits=credits, credits_field="credits_billed", cost_field="cost_usd")
    return task


def generation_bill_note(*, generation_id, task_id, record):
    """Keep on the generation what KIE billed for its own task `task_id`, once KIE reports it."""
    credits = _billed(record)
    if credits is None or not task_id:
        return 0
    rows = Generation.objects.filter(pk=generation_id, kie_task_id=task_id)
    return _bill_set(rows, credits=credits, credits_field="kie_credits_billed", cost_field="kie_cost_usd")


def kie_task_seen(*, generation, task_id, source, record=None):
    """Note a task of `generation` and, when it is the generation's own, its bill on the generation."""
    kie_task_note(task_id=task_id, source=source, generation_id=generation.pk, record=record)
    generation_bill_note(generation_id=generation.pk, task_id=task_id, record=record)


def kie_task_known_finished(*, task_id):
    """Return True when the task's bill is already known: another callback for it changes nothing."""
    return KieTask.objects.filter(task_id=task_id, credits_billed__isnull=False).exists()


def kie_task_check(*, task_id, generation_id=None, client=None):
    """Confirm with recordInfo a task a callback named that is not its generation's own; keep it.

    The callback body is not trusted: only a task KIE knows is recorded. It is linked to the
    generation whose callback URL received it unless KIE's echo of the request names another URL.
    Returns the KieTask, or None when KIE does not know the task. Retryable KIE errors propagate.
    """
    client = client or kie.kie_client()
    try:
        record = client.record_info(task_id=task_id)
    except kie.KieError as exc:
        if exc.retryable or exc.alert:
            raise
        logger.warning("a callback named KIE task %s, which KIE does not know: %r", task_id, exc)
        return None
    generation = Generation.objects.filter(pk=generation_id).first() if generation_id else None
    param = record.raw.get("param")
    sent_to = param.get("callBackUrl") if isinstance(param, dict) else None
    if generation is not None and sent_to is not None and sent_to != callback_url(generation):
        generation = None
    if generation is None:
        logger.warning("KIE task %s has no generation: KIE bills it and we sell nothing", task_id)
        return kie_task_note(task_id=task_id, source=KieTaskSource.CALLBACK, record=record)
    logger.warning("generation %s has another KIE task %s (KIE may bill both)", generation.public_id, task_id)
    return kie_task_note(
        task_id=task_id, source=KieTaskSource.CALLBACK, generation_id=generation.pk, record=record
    )


def kie_tasks_backfill(*, start, end, limit=200, max_seconds=None, client=None):
    """Ask KIE the bill of every task of [start, end) not reported yet; return (read, errors).

    A task is of the period by its generation's creation, or when it first was seen for one with
    no generation. Generations sent before this registry existed get their row first. Tasks whose
    generation ended before KIE did (cancelled, past the deadline) are only billed here. Stops
    starting reads after `max_seconds` (a queued task has a timeout); the next run goes on.
    """
    started = time.monotonic()
    client = client or kie.kie_client()
    in_period = Q(created_at__gte=start, created_at__lt=end)
    untracked = (
        Generation.objects.filter(in_period)
        .exclude(kie_task_id="")
        .filter(~Exists(KieTask.objects.filter(task_id=OuterRef("kie_task_id"))))
        .values_list("pk", "kie_task_id")
    )
    for generation_id, task_id in untracked:
        kie_task_note(task_id=task_id, source=KieTaskSource.RECORD, generation_id=generation_id)
    unbilled = KieTask.objects.filter(credits_billed__isnull=True).filter(
        Q(generation__created_at__gte=start, generation__created_at__lt=end)
        | Q(generation__isnull=True, first_seen_at__gte=start, first_seen_at__lt=end)
    )
    read = errors = 0
    for task in unbilled.order_by("id")[:limit]:
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        try:
            record = client.record_info(task_id=task.task_id)
        except kie.KieError as exc:
            errors += 1
            logger.warning("recordInfo for KIE task %s failed: %r", task.task_id, exc)
            continue
        read += 1
        kie_task_note(task_id=task.task_id, source=KieTaskSource.RECORD, record=record)
        if task.generation_id:
            generation_bill_note(generation_id=task.generation_id, task_id=task.task_id, record=record)
    return read, errors
