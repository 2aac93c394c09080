"""django-q2 entry points. Thin and idempotent: they take ids and call one service.

They are the task boundary, so an unexpected error is logged here before django-q2 records the
failure and retries (bounded by Q_CLUSTER max_attempts).
"""

import logging

from . import delivery, kept, kie, kietasks, library, pipeline, services

logger = logging.getLogger(__name__)

# Each sweep stops starting new work after this long, leaving room for the KIE call in flight
# (20 s read timeout) inside Q_CLUSTER's 60 s timeout.
TASK_BUDGET_SECONDS = 30.0
# The dispatcher (on the "dispatch" cluster, 150 s timeout) stops starting createTask calls after
# this long and hands over to a fresh task: the one call in flight (≤ 23 s) still ends in time.
DISPATCHER_BUDGET_SECONDS = 100.0


def generation_dispatch():
    """Be the dispatcher for a while, or return at once if another loop holds the lease."""
    report = pipeline.dispatcher_run(max_seconds=DISPATCHER_BUDGET_SECONDS)
    return {
        "submitted": len(report.submitted),
        "failed": len(report.failed),
        "paused": report.paused,
        "busy": report.busy,
    }


def generation_refresh(generation_id, task_id=None):
    """Re-read one generation from KIE (after its callback). Transient KIE errors are left to the poller."""
    try:
        return pipeline.generation_refresh_requested(generation_id=generation_id, task_id=task_id)
    except kie.KieError as exc:
        if exc.retryable or exc.alert:
            logger.warning(
                "recordInfo for generation %s failed; the poller will retry: %r", generation_id, exc
            )
            return None
        raise


def generation_poll():
    """The scheduled sweep (every minute): lost callbacks, deadlines, late results, un-pausing."""
    return pipeline.generations_poll(max_seconds=TASK_BUDGET_SECONDS)


def partner_webhook_send(generation_pk, attempt=1):
    """Deliver attempt `attempt` of a finished generation's webhook (a retry schedules the next)."""
    return delivery.webhook_deliver(generation_pk=generation_pk, attempt=attempt)


def generations_purge():
    """The scheduled sweep (hourly): delete for good the images of generations long in the trash."""
    return services.generations_purge(max_seconds=TASK_BUDGET_SECONDS)


def kie_task_check(task_id, generation_id=None):
    """Confirm with KIE a task a callback named that is not its generation's, and keep it for ops."""
    try:
        task = kietasks.kie_task_check(task_id=task_id, generation_id=generation_id)
    except kie.KieError as exc:
        logger.warning("could not check KIE task %s; the next callback or reconcile will: %r", task_id, exc)
        return None
    return task.pk if task else None


def library_export_build(export_id):
    """Build one "export all my images" zip in storage and e-mail its owner (a failure is recorded)."""
    export = library.export_build(export_id=export_id)
    return export.status if export else None


def library_exports_expire():
    """The scheduled sweep (daily): delete export zips past their 7 days."""
    return library.exports_expired_delete()


def kept_uploads_expire():
    """The scheduled sweep (daily): delete image inputs kept for forms never sent again."""
    return kept.kept_expired_delete()
