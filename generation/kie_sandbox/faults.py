"""Failures tests ask for: canned replies for the next calls, and tasks planned to fail."""

import threading
import time
from collections import deque
from dataclasses import dataclass

from .server import Reply

ENDPOINTS = ("createTask", "recordInfo", "credit", "upload")


@dataclass(frozen=True)
class Forced:
    """A canned reply for the next call to one endpoint."""

    code: int | None = None
    msg: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str = "text/html"
    delay: float = 0.0


class Faults:
    """Queues of forced replies per endpoint, and of (failCode, failMsg) for the next tasks."""

    def __init__(self):
        self._replies = {name: deque() for name in ENDPOINTS}
        self._task_fails = deque()
        self._lock = threading.Lock()

    def force_reply(self, endpoint, forced, times):
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {endpoint!r}")
        with self._lock:
            self._replies[endpoint].extend([forced] * times)

    def force_task_fail(self, fail_code, fail_msg, times):
        with self._lock:
            self._task_fails.extend([(str(fail_code), fail_msg)] * times)

    def next_task_fail(self):
        """Return the next planned (failCode, failMsg), or None."""
        with self._lock:
            return self._task_fails.popleft() if self._task_fails else None

    def reply(self, endpoint, envelope):
        """Return the forced Reply for this call to `endpoint`, or None to answer normally.

        Sleeps the forced delay first (outside the lock); `envelope(code, msg)` builds KIE's body.
        """
        with self._lock:
            queue = self._replies[endpoint]
            forced = queue.popleft() if queue else None
        if forced is None:
            return None
        if forced.delay:
            time.sleep(forced.delay)
        if forced.body is not None:
            return Reply(forced.http_status or 200, forced.body, {"Content-Type": forced.content_type})
        if forced.code is None:
            return None
        reply = envelope(forced.code, forced.msg or f"Simulated error {forced.code}")
        if forced.http_status:
            reply.status = forced.http_status
        return reply
