"""How a generation ends: re-read KIE, store the images and succeed, or fail and refund exactly once."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.services import credits_refund

from .. import kie, storage
from ..models import ACTIVE_STATUSES, Generation, GenerationImage, Status
from . import enqueue
from .errors import ERROR_MESSAGES
from .pause import dispatch_pause_on_alert

logger = logging.getLogger("generation.services")


def generation_refresh_enqueue(*, generation_id):
    """Ask a worker to re-read the generation from KIE."""
    enqueue.refresh_enqueue(generation_id)


def generation_callback_received(*, generation_id):
    """Note KIE's "task changed" callback and have the task re-read (the body itself is not trusted)."""
    Generation.objects.filter(pk=generation_id).update(callback_at=timezone.now())
    enqueue.refresh_enqueue(generation_id)


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
        enqueue.webhook_enqueue_on_commit(generation)
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
        won = Generation.objects.filter(pk=generation.pk, images_stored_at__isnull=True).update(
            images_stored_at=timezone.now()
        )
        if won:
            GenerationImage.objects.bulk_create(
                [GenerationImage(generation_id=generation.pk, position=i, **f) for i, f in enumerate(saved)]
            )
    if not won:
        # Another worker stored this result first; ours are duplicates.
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
            enqueue.webhook_enqueue_on_commit(generation)
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
