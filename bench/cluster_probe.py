"""A scheduled job for the cluster test: each run notes which period it was scheduled for, in Redis.

The cluster test adds a django-q2 schedule (every minute, `intended_date_kwarg="intended"`) that
calls `tick`; every qcluster of the default cluster runs the scheduler, so a period run twice shows
up as the same `intended` twice, and a period nobody ran as a gap.
"""

import json
import os
import time

TICKS_KEY = "artio:cluster-test:ticks"
SCHEDULE_NAME = "cluster-test-probe"


def tick(intended=None):
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(
        TICKS_KEY,
        json.dumps({"intended": intended, "at": time.time(), "host": os.environ.get("ARTIO_TEST_HOST", "")}),
    )
    return intended
