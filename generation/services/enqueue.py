"""Hand work to django-q2 workers: the one seam the tests replace to run tasks in-process."""

from django.db import transaction

WEBHOOK_TASK = "artio.tasks.partner_webhook_send"


def task_enqueue(func, *args):
    # Imported when used, so importing the services never loads django-q2 models before apps are ready.
    from django_q.tasks import async_task

    async_task(func, *args)


def dispatch_enqueue(generation_id=None):
    """Ask a worker to send queued generations to KIE."""
    task_enqueue("generation.tasks.generation_dispatch", generation_id)


def refresh_enqueue(generation_id):
    """Ask a worker to re-read the generation from KIE."""
    task_enqueue("generation.tasks.generation_refresh", generation_id)


def webhook_enqueue_on_commit(generation):
    """Tell the partner's webhook about a finished generation once the outcome is committed."""
    if generation.webhook_url:
        transaction.on_commit(lambda: task_enqueue(WEBHOOK_TASK, generation.pk))
