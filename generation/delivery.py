"""Deliver a finished generation to its partner's webhook: one claimed attempt at a time, retried
with backoff for a day. The HTTP side (URL check, signature, POST) is webhooks.py."""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Schedule

from artio.services import partner_settings_for_user

from .models import TERMINAL_STATUSES, Generation, Status, WebhookDelivery
from .serializers import GenerationSerializer
from .webhooks import webhook_post

logger = logging.getLogger(__name__)

# Retries: 30 s, 1 min, 2 min, … doubling, for as long as the next try is within a day of the first.
WEBHOOK_FIRST_RETRY = timedelta(seconds=30)
WEBHOOK_RETRY_WINDOW = timedelta(days=1)
# No task runs longer than the queue's timeout, which is below its retry (the re-delivery of a
# task whose worker died): a claimed attempt with no outcome after it belongs to a dead worker.
ABANDONED_ATTEMPT_AFTER = timedelta(seconds=settings.Q_CLUSTER["timeout"])


def webhook_payload(generation):
    """Return the raw JSON body sent for a generation in a terminal state."""
    data = GenerationSerializer(generation).data
    event = "generation.succeeded" if generation.status == Status.SUCCEEDED else "generation.failed"
    return event, json.dumps({"type": event, "data": data}, separators=(",", ":")).encode()


def webhook_retry_at(*, first_attempt_at, attempt):
    """Return when attempt `attempt + 1` is due, or None when the day of retries is over."""
    due = timezone.now() + WEBHOOK_FIRST_RETRY * (2 ** (attempt - 1))
    return due if due <= first_attempt_at + WEBHOOK_RETRY_WINDOW else None


def webhook_deliver(*, generation_pk, attempt=1):
    """Deliver attempt number `attempt` of a generation's terminal-state webhook.

    Each attempt is claimed by inserting its WebhookDelivery row (unique per generation, event and
    attempt), so a task delivered twice posts once. A failed attempt schedules the next one.
    """
    generation = (
        Generation.objects.select_related("model", "account", "owner")
        .prefetch_related("images")
        .filter(pk=generation_pk)
    ).first()
    if generation is None or not generation.webhook_url or generation.status not in TERMINAL_STATUSES:
        return None
    event, body = webhook_payload(generation)
    if WebhookDelivery.objects.filter(
        generation_public_id=generation.public_id, event_type=event, succeeded=True
    ).exists():
        return None
    delivery = _attempt_claim(generation=generation, event=event, attempt=attempt)
    if delivery is None:
        return None  # this attempt was already made, or is being made, by another delivery of the task
    secret = partner_settings_for_user(user=generation.owner).webhook_secret
    result = webhook_post(url=generation.webhook_url, body=body, secret=secret)
    delivery.status_code, delivery.error = result.status_code, result.error
    delivery.duration_ms, delivery.succeeded = result.duration_ms, result.ok
    if not result.ok:
        first = (
            WebhookDelivery.objects.filter(generation_public_id=generation.public_id, event_type=event)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        delivery.next_attempt_at = webhook_retry_at(first_attempt_at=first, attempt=attempt)
    # The outcome and the next try commit together: a crash cannot log a retry that never comes.
    with transaction.atomic():
        delivery.save(update_fields=["status_code", "error", "duration_ms", "succeeded", "next_attempt_at"])
        if delivery.next_attempt_at:
            Schedule.objects.create(
                name=f"webhook {generation.public_id} #{attempt + 1}",
                func="generation.tasks.partner_webhook_send",
                args=f"{generation.pk},{attempt + 1}",
                schedule_type=Schedule.ONCE,
                repeats=-1,
                next_run=delivery.next_attempt_at,
            )
    if not result.ok and not delivery.next_attempt_at:
        logger.warning("Webhook for %s given up after %s attempts", generation.public_id, attempt)
    return delivery.pk


def _attempt_claim(*, generation, event, attempt):
    """Insert the row of this attempt and return it; None when another worker owns the attempt.

    A row without an outcome (`duration_ms` unset) older than ABANDONED_ATTEMPT_AFTER was left by
    a worker that died between claiming and recording: the re-delivered task takes it over, so
    the attempt (and the retries after it) still happen.
    """
    try:
        with transaction.atomic():
            return WebhookDelivery.objects.create(
                account=generation.account,
                generation_public_id=generation.public_id,
                event_type=event,
                url=generation.webhook_url,
                attempt=attempt,
            )
    except IntegrityError:
        pass
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        generation_public_id=generation.public_id,
        event_type=event,
        attempt=attempt,
        duration_ms__isnull=True,
        created_at__lt=now - ABANDONED_ATTEMPT_AFTER,
    )
    delivery = claimed.first()
    if delivery is None or not claimed.filter(created_at=delivery.created_at).update(created_at=now):
        return None
    delivery.created_at = now
    return delivery
