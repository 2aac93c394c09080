"""GET /healthz: can this process serve? Database, task broker, file storage, and KIE dispatch.

For load balancers and monitors: no sign-in, never cached, a few cheap queries and one tiny file.
200 when every check passes, 503 when any fails. A paused dispatch (KIE refused our key or credit)
counts as a failure: pages still serve, but no generation can start until staff act; so does work
waiting minutes with no dispatcher running (the `dispatch` cluster is down). A failed
check names only the exception's class; its message may carry hosts, paths or credentials.
"""

import time
import uuid

import redis
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_q.conf import Conf
from django_q.models import OrmQ

from . import pipeline, selectors

# What each far side raises when it is down; anything else is a bug and should surface as one.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)
BROKER_TIMEOUT_SECONDS = 2


def database_check():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def broker_check():
    """Ping Redis, or count the tasks waiting in the ORM broker's table."""
    redis_url = settings.Q_CLUSTER.get("redis")
    if redis_url:
        client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
        return {"kind": "redis"}
    # Read directly: the ORM broker's own queue_size() closes this request's connection first.
    queued = OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=timezone.now()).count()
    return {"kind": "orm", "queued": queued}


def storage_check():
    """Write and delete a tiny file where result images go."""
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)
    return {}


def dispatch_check():
    """Fail while KIE dispatch is paused, or while queued work waits with no dispatcher running."""
    paused = selectors.dispatch_pause_get()
    if paused is not None:
        return {"ok": False, "paused": True, "reason": paused.reason}
    stalled = pipeline.dispatch_stalled()
    return {
        "ok": not stalled,
        "paused": False,
        "reason": "",
        "dispatcher": pipeline.dispatcher_is_running(),
        "stalled": stalled,
    }


CHECKS = {
    "database": (database_check, (DatabaseError,)),
    "broker": (broker_check, (DatabaseError, redis.RedisError)),
    "storage": (storage_check, STORAGE_ERRORS),
    "dispatch": (dispatch_check, (DatabaseError,)),
}


def check_run(check, errors):
    started = time.monotonic()
    try:
        result = {"ok": True, **check()}
    except errors as exc:
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


@never_cache
@require_safe
def healthz(request):
    """Return every check's result; 200 when all pass, 503 when any fails."""
    checks = {name: check_run(check, errors) for name, (check, errors) in CHECKS.items()}
    healthy = all(result["ok"] for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )
