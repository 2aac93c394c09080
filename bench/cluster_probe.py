"""A scheduled job for the cluster test: each run notes which period it was scheduled for, in Redis.

The cluster test adds PROBES django-q2 schedules (each every minute, `intended_date_kwarg="intended"`,
their first runs spread over the minute) that call `tick`; every qcluster of the default cluster
runs the scheduler, so a period run twice shows up as the same (schedule, intended) twice, and a
period nobody ran as a gap. Several schedules give the two schedulers more due moments to race on.
"""

import json
import os
import time

TICKS_KEY = "artio:cluster-test:ticks"
SCHEDULE_NAME = "cluster-test-probe"
PROBES = 6


def tick(schedule, intended=None):
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(
        TICKS_KEY,
        json.dumps(
            {
                "schedule": schedule,
                "intended": intended,
                "at": time.time(),
                "host": os.environ.get("ARTIO_TEST_HOST", ""),
            }
        ),
    )
    return intended
