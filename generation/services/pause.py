"""The switch that stops sending work to KIE when it answers 401 (bad key) or 402 (out of credit)."""

import logging

from django.utils import timezone

from ..models import DispatchState
from . import enqueue

logger = logging.getLogger("generation.services")


def dispatch_pause(*, reason):
    """Stop sending work to KIE (bad key, KIE out of credit) until staff or a credit check resumes."""
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=False).update(
        paused=True, reason=reason[:255], paused_at=timezone.now()
    )
    if changed:
        logger.error("KIE dispatch paused: %s", reason)
    return bool(changed)


def dispatch_resume():
    """Send work to KIE again, and wake a dispatcher for what queued up meanwhile."""
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=True).update(paused=False, reason="", paused_at=None)
    if changed:
        logger.warning("KIE dispatch resumed")
        enqueue.dispatch_enqueue()
    return bool(changed)


def dispatch_is_paused():
    return DispatchState.objects.filter(pk=1, paused=True).exists()


def dispatch_pause_on_alert(exc):
    """Pause dispatch when a KIE error says staff must act; any KIE call may be the one to learn it."""
    if exc.alert:
        dispatch_pause(reason=f"KIE answered {exc.code}: {exc.message}")
