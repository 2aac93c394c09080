"""Callback delivery: POST the finished record to callBackUrl, signed like KIE.

See docs/reference/kie-api.md §3.3.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from generation.kie import callback_signature

LOG_SIZE = 1000
# KIE gives a callback 15 s (§3.2); connecting to a receiver that is not there should fail fast.
POST_TIMEOUT = (3.05, 15)


@dataclass(frozen=True)
class Callback:
    task_id: str
    url: str
    body: bytes


def signed_headers(task_id, hmac_key, now=None):
    """Return the callback's headers; with a key, X-Webhook-Timestamp/-Signature over taskId.timestamp."""
    headers = {"Content-Type": "application/json", "User-Agent": "KieSandbox/1.0"}
    if hmac_key:
        stamp = str(int(time.time() if now is None else now))
        headers["X-Webhook-Timestamp"] = stamp
        headers["X-Webhook-Signature"] = callback_signature(task_id=task_id, timestamp=stamp, key=hmac_key)
    return headers


class CallbackSender:
    """Deliver callbacks from a small pool of threads, and keep the last LOG_SIZE attempts in `log`.

    A bounded pool, not a thread per callback: a burst of finished tasks (or slow receivers) cannot
    pile up threads. `close()` drops what has not been sent and waits for posts in flight.
    """

    def __init__(self, *, workers=8):
        self.log = []
        self._workers = workers
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pool = None

    def open(self):
        with self._lock:
            self._closed.clear()
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kie-sandbox-callback")

    def close(self):
        with self._lock:
            pool, self._pool = self._pool, None
            self._closed.set()  # wakes "late" deliveries, which then drop
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def send(self, callback, *, mode, late_seconds, hmac_key):
        """Queue one delivery in `mode` ("once", "twice", "drop", "late"); the key is read now."""
        with self._lock:
            pool = self._pool
            if pool is not None and mode != "drop":
                pool.submit(self._deliver, callback, mode, late_seconds, hmac_key)
                return
        self._record(callback, dropped=True)

    def _deliver(self, callback, mode, late_seconds, hmac_key):
        if mode == "late" and self._closed.wait(late_seconds):
            self._record(callback, dropped=True)
            return
        for _ in range(2 if mode == "twice" else 1):
            self._post(callback, hmac_key)

    def _post(self, callback, hmac_key):
        # Signed at sending time: the timestamp is when the callback was sent, as KIE does.
        headers = signed_headers(callback.task_id, hmac_key)
        try:
            response = requests.post(callback.url, data=callback.body, headers=headers, timeout=POST_TIMEOUT)
        except requests.RequestException as exc:
            self._record(callback, headers=headers, error=str(exc))
            return
        self._record(callback, headers=headers, status=response.status_code)

    def _record(self, callback, *, dropped=False, headers=None, status=None, error=None):
        entry = {
            "task_id": callback.task_id,
            "url": callback.url,
            "body": callback.body,
            "headers": headers or {},
            "status": status,
            "error": error,
            "dropped": dropped,
            "at": time.time(),
        }
        with self._lock:
            self.log.append(entry)
            del self.log[:-LOG_SIZE]
