"""Hand work to django-q2 workers: the one seam the tests replace to run tasks in-process."""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

WEBHOOK_TASK = "artio.tasks.partner_webhook_send"


def task_enqueue(func, *args):
    # Imported when used, so importing the services never loads django-q2 models before apps are ready.
    from django_q.tasks import async_task

    async_task(func, *args)


def dispatch_enqueue(generation_id=None):
    """Ask a worker to send queued generations to KIE."""
    task_enqueue("generation.tasks.generation_dispatch", generation_id)


def broker_in_database():
    """Return True when django-q2's queue is a table in our own database (the ORM broker)."""
    return settings.Q_CLUSTER.get("orm") == DEFAULT_DB_ALIAS


def dispatch_enqueue_with_commit(generation_id):
    """Enqueue the dispatch of a generation being created, so no worker can see it before it commits.

    Call inside the creating transaction. With the ORM broker the queue row joins that transaction:
    it commits or rolls back with the generation, cannot be lost between commit and enqueue, and
    spares the request the connection close/reopen that django-q2's broker does outside one. Any
    other broker (Redis) is told after the commit.
    """
    if broker_in_database():
        dispatch_enqueue(generation_id)
    else:
        transaction.on_commit(lambda: dispatch_enqueue(generation_id))


def refresh_enqueue(generation_id):
    """Ask a worker to re-read the generation from KIE."""
    task_enqueue("generation.tasks.generation_refresh", generation_id)


def webhook_enqueue_on_commit(generation):
    """Tell the partner's webhook about a finished generation once the outcome is committed."""
    if generation.webhook_url:
        transaction.on_commit(lambda: task_enqueue(WEBHOOK_TASK, generation.pk))
