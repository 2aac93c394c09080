"""KieSandbox: a KIE simulator that speaks KIE's HTTP API (docs/kie-sandbox.md).

It answers like KIE does, quirks included: errors inside HTTP 200 (or as HTTP statuses when
`http_errors=True`), `param` with a double-encoded `input`, JSON-in-strings, KIE's createTask
rate limit, signed callbacks, expiring file links. Tests drive it through attributes and
`fail_next`; the `kie_sandbox` management command serves it for `make run`.

This module holds the state, the routing and the task timeline; the parts live beside it:
validation.py (KIE's 422s), ratelimit.py (20 per 10 s), tasks.py (the record KIE reports),
callbacks.py (signed delivery), files.py (links and uploads), faults.py (fail_next), server.py
(HTTP), images.py (result PNGs: sizes.py, art.py, painters.py, palette.py).
"""

import heapq
import hmac
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from decimal import Decimal
from functools import partial

from .billing import BillOverrides, PriceList, task_bill
from .callbacks import Callback, CallbackSender
from .faults import Faults, Forced
from .files import FileHost, plain_reply
from .images import input_image_urls, task_png
from .ratelimit import SlidingWindow
from .server import Reply, SandboxHTTPServer, json_dumps, json_reply
from .tasks import SandboxTask, callback_body, task_record
from .validation import ModelCatalogue

logger = logging.getLogger("generation.kie_sandbox")

FAIL_PROMPT_MARKER = "sandbox:fail"
# Cloudflare in front of KIE refuses Python's default urllib agent (docs/reference/kie-api.md §8.9).
BLOCKED_AGENT_PREFIX = "python-urllib"


class KieSandbox:
    """A threaded HTTP server speaking KIE's API. `start()`, use `.base_url`, `stop()`.

    One lock guards the tasks and the simulated KIE account (the parts beside it lock their own
    state); every knob below is a plain attribute that may be changed while it runs.
    """

    def __init__(
        self,
        *,
        host="127.0.0.1",
        port=0,
        latency=(0.5, 2.0),
        failure_rate=0.0,
        hmac_key=None,
        create_rate=(20, 10.0),
        result_ttl=3600,
        upload_ttl=86400,
        api_key=None,
        models=None,
        http_errors=False,
        credits=Decimal("1000000"),
        credits_per_image=Decimal("4"),
        max_tasks=2000,
        style="new",
        message_key="msg",
        callback_mode="once",
        callback_late_seconds=3.0,
        public_base=None,
        seed=None,
    ):
        self.host, self.port = host, port
        self.latency = tuple(latency)
        self.failure_rate = failure_rate
        self.hmac_key = hmac_key
        self.create_rate = tuple(create_rate)
        self.result_ttl = result_ttl
        self.upload_ttl = upload_ttl
        self.api_key = api_key
        self.http_errors = http_errors
        self.credits = Decimal(credits)
        self.credits_per_image = Decimal(credits_per_image)
        self.max_tasks = max_tasks
        self.style = style  # "new": creditsConsumed, response, successFlag; "old": consumeCredits
        self.message_key = message_key  # KIE documents "msg"; some copies say "message"
        self.callbacks_enabled = True
        self.callback_mode = callback_mode  # "once" | "twice" | "drop" | "late"
        self.callback_late_seconds = callback_late_seconds
        self.public_base = public_base
        # Deliver at most this many images per successful task (None: all that were asked for).
        self.max_result_images = None
        self.catalogue = ModelCatalogue(models)
        self.prices = PriceList(models)
        self._bills = BillOverrides()
        self.tasks: OrderedDict[str, SandboxTask] = OrderedDict()
        self.received = deque(maxlen=200)  # (method, path, headers) of the latest requests
        self._files = FileHost(lambda: self.public_base or self.base_url)
        self._window = SlidingWindow()
        self._sender = CallbackSender()
        self._faults = Faults()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._due = []  # heap of (due, task_id)
        self._stopping = False
        self._server = None
        self._threads = []

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self):
        """Bind, then serve and finish tasks in background threads. Return self."""
        self._server = SandboxHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._stopping = False
        self._sender.open()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
                name="kie-sandbox-http",
                daemon=True,
            ),
            threading.Thread(target=self._finisher, name="kie-sandbox-finisher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info("KIE sandbox serving on %s", self.base_url)
        return self

    def stop(self):
        """Stop serving, finishing and calling back (unsent callbacks are dropped); safe twice."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._sender.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 (a comparison)
        return f"http://{host}:{self.port}"

    # --- knobs --------------------------------------------------------------------------------

    @property
    def uploads(self):
        """Uploaded files by key (expired ones are forgotten)."""
        return self._files.uploads

    @property
    def create_calls(self):
        """Timestamps (time.time()) of the createTask calls let through, newest last."""
        return self._window.calls

    @property
    def rejected_creates(self):
        """How many createTask calls the rate limit refused."""
        return self._window.rejected

    @property
    def callbacks(self):
        """One dict per delivery attempt or drop: task_id, url, body, headers, status, error, dropped."""
        return self._sender.log

    def set_latency(self, low, high=None):
        """Set how long new tasks take, in seconds (uniform between low and high)."""
        self.latency = (low, low if high is None else high)

    def fail_next(
        self,
        code=None,
        msg=None,
        *,
        endpoint="createTask",
        state=None,
        fail_code="500",
        fail_msg="Internal server error",
        http_status=None,
        body=None,
        content_type="text/html",
        delay=0.0,
        times=1,
    ):
        """Force the next `times` answers.

        `state="fail"`: the next created tasks end in `fail` with `fail_code`/`fail_msg`.
        Otherwise the next calls to `endpoint` (createTask, recordInfo, credit, upload) answer with
        body `code`/`msg` (HTTP 200, or `http_status`), or with the raw `body` (e.g. Cloudflare's
        HTML), after sleeping `delay` seconds; with only `delay` they answer normally, late.
        """
        if state == "fail":
            self._faults.force_task_fail(fail_code, fail_msg, times)
        else:
            forced = Forced(code, msg, http_status, body, content_type, delay)
            self._faults.force_reply(endpoint, forced, times)

    def bill_next(self, credits, *, times=1):
        """Bill the next `times` created tasks `credits` each as `creditsConsumed`, whatever their end.

        Rehearses KIE billing more than the price row, or billing a failed task (with
        `fail_next(state="fail")`); the simulated account is charged the same amount.
        """
        self._bills.push(credits, times)

    def file_url(self, path, *, expires):
        """Return the public URL of `path` signed to expire at Unix time `expires`."""
        return self._files.url(path, expires)

    # --- replies ------------------------------------------------------------------------------

    def _envelope(self, code, msg, data=None):
        status = code if self.http_errors and code != 200 and 400 <= code < 600 else 200
        return json_reply({"code": code, self.message_key: msg, "data": data}, status)

    def handle(self, request):
        """Route one HTTP request to its endpoint and return a Reply."""
        routes = {
            ("POST", "/api/v1/jobs/createTask"): ("createTask", self._create_task),
            ("GET", "/api/v1/jobs/recordInfo"): ("recordInfo", self._record_info),
            ("GET", "/api/v1/chat/credit"): ("credit", self._credit),
            ("POST", "/api/file-stream-upload"): ("upload", partial(self._upload, base64_body=False)),
            ("POST", "/api/file-base64-upload"): ("upload", partial(self._upload, base64_body=True)),
        }
        self.received.append((request.method, request.path, request.headers))
        try:
            if request.headers.get("user-agent", "").lower().startswith(BLOCKED_AGENT_PREFIX):
                return plain_reply(403, "error code: 1010")
            if request.method in ("GET", "HEAD") and request.path.startswith("/files/"):
                return self._serve_result(request)
            if request.method in ("GET", "HEAD") and request.path.startswith("/uploads/"):
                return self._files.serve_upload(request)
            route = routes.get((request.method, request.path))
            if route is None:
                return self._envelope(404, "Not found")
            endpoint, view = route
            if not self._authorised(request):
                return self._envelope(401, "You do not have access permissions")
            forced = self._faults.reply(endpoint, self._envelope)
            return forced if forced is not None else view(request)
        except Exception:  # the simulator's boundary: answer like KIE's 500, and log why
            logger.exception("KIE sandbox failed on %s %s", request.method, request.path)
            return self._envelope(500, "Server Error - sandbox")

    def _authorised(self, request):
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key.strip():
            return False
        return self.api_key is None or hmac.compare_digest(key.strip(), self.api_key)

    # --- createTask ---------------------------------------------------------------------------

    def _create_task(self, request):
        body = request.json()
        if body is None:
            return self._envelope(400, "Request body must be a JSON object")
        now = time.time()
        limit, window = self.create_rate
        if not self._window.admit(now, limit=limit, window=window):
            return self._envelope(429, "Rate limit exceeded")
        model, data = body.get("model"), body.get("input")
        error = self.catalogue.error(model, data)
        if error:
            return self._envelope(422, error)
        callback_url = body.get("callBackUrl")
        if callback_url is not None and (
            not isinstance(callback_url, str) or not callback_url.startswith(("http://", "https://"))
        ):
            return self._envelope(422, "callBackUrl must be an http(s) URL")
        count = self.catalogue.image_count(model, data)
        cost = self.prices.task_cost(model, data, images=count, credits_per_image=self.credits_per_image)
        with self._wake:
            if self.credits < cost:
                return self._envelope(402, "Credits insufficient")
            task = SandboxTask(
                task_id=uuid.uuid4().hex,
                model=model,
                input=dict(data),
                callback_url=callback_url,
                created=now,
                due=now + self._random.uniform(*self.latency),
                image_count=count,
                cost=cost,
                fail=self._planned_failure(data),
                bill=self._bills.pop(),
            )
            self.tasks[task.task_id] = task
            heapq.heappush(self._due, (task.due, task.task_id))
            self._prune(now)
            self._wake.notify_all()
        reply = {"taskId": task.task_id}
        if self.style == "new":
            reply["recordId"] = uuid.uuid4().hex  # newer KIE sends one; clients must ignore it
        return self._envelope(200, "success", reply)

    def _planned_failure(self, data):
        """Return (failCode, failMsg) when the new task is to fail, else None (under the lock)."""
        forced = self._faults.next_task_fail()
        if forced:
            return forced
        if self._files.inputs_gone(data):
            return ("400", "Failed to fetch the input image: the link is missing or expired")
        if FAIL_PROMPT_MARKER in str(data.get("prompt", "")):
            return ("400", "Your prompt was flagged by the content filter")
        if self._random.random() < self.failure_rate:
            return ("500", "Internal server error")
        return None

    def _prune(self, now):
        # Keep memory bounded: forget tasks past their retention, then the oldest finished ones
        # over max_tasks; unfinished tasks go only when twice that many pile up.
        over = len(self.tasks) - self.max_tasks
        for task_id, task in list(self.tasks.items()):
            expired = task.finished and task.completed < now - self.result_ttl
            if expired or (over > 0 and task.finished) or len(self.tasks) > 2 * self.max_tasks:
                del self.tasks[task_id]
                over -= 1
        self._files.prune(now)

    # --- task progress, recordInfo, callbacks -------------------------------------------------

    def _advance(self, task, now):
        """Move a task along its timeline; return a Callback to send when it has just finished."""
        if not task.progress(now):
            return None
        if task.fail is None and self.credits >= task.cost:
            task.finish(now)
        else:
            task.finish(now, fail=("402", "Credits insufficient"))
        self.credits -= task_bill(task)
        if not task.callback_url:
            return None
        body = callback_body(self._record(task), message_key=self.message_key)
        return Callback(task.task_id, task.callback_url, json_dumps(body).encode())

    def _record(self, task):
        urls = []
        if task.state == "success":
            expires = task.completed + self.result_ttl  # KIE's result links are temporary too
            delivered = task.image_count
            if self.max_result_images is not None:
                delivered = min(delivered, self.max_result_images)
            urls = [
                self.file_url(f"/files/{task.task_id}/{n}.png", expires=expires)
                for n in range(1, delivered + 1)
            ]
        return task_record(task, style=self.style, result_urls=urls, remaining_credits=self.credits)

    def _record_info(self, request):
        task_id = request.query.get("taskId")
        if not task_id:
            return self._envelope(400, "taskId parameter is required")
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None:
                return self._envelope(404, "Task not found")
            callback = self._advance(task, time.time())
            record = self._record(task)
        if callback:
            self._send(callback)
        return self._envelope(200, "success", record)

    def _finisher(self):
        """Finish tasks when they fall due, so callbacks go out even if nobody polls."""
        while True:
            callbacks = []
            with self._wake:
                if self._stopping:
                    return
                now = time.time()
                while self._due and self._due[0][0] <= now:
                    _, task_id = heapq.heappop(self._due)
                    task = self.tasks.get(task_id)
                    callback = self._advance(task, now) if task else None
                    if callback:
                        callbacks.append(callback)
                if not callbacks:
                    self._wake.wait(timeout=min(1.0, self._due[0][0] - now) if self._due else 1.0)
            for callback in callbacks:
                self._send(callback)

    def _send(self, callback):
        mode = self.callback_mode if self.callbacks_enabled else "drop"
        self._sender.send(
            callback, mode=mode, late_seconds=self.callback_late_seconds, hmac_key=self.hmac_key
        )

    # --- credit, uploads, files ---------------------------------------------------------------

    def _credit(self, request):
        with self._lock:
            return self._envelope(200, "success", self.credits)

    def _upload(self, request, *, base64_body):
        try:
            data = self._files.upload(request, base64_body=base64_body, ttl=self.upload_ttl)
        except ValueError as exc:
            return self._envelope(400, str(exc))
        # The upload host adds `success` to KIE's envelope (docs/reference/kie-api.md §5.1).
        return json_reply(
            {"success": True, "code": 200, self.message_key: "File uploaded successfully", "data": data}
        )

    def _serve_result(self, request):
        """Return a result PNG for GET /files/<task>/<n>.png?expires=&sig=, drawn on request."""
        status = self._files.links.status(request.path, request.query)
        if status != 200:
            return plain_reply(status, "Gone: this link has expired" if status == 410 else "Not Found")
        parts = request.path.strip("/").split("/")
        with self._lock:
            task = self.tasks.get(parts[1]) if len(parts) == 3 else None
        if task is None or task.state != "success":
            return plain_reply(404, "Not Found")
        try:
            index = int(parts[2].removesuffix(".png"))
        except ValueError:
            index = 0
        if not 1 <= index <= task.image_count:
            return plain_reply(404, "Not Found")
        urls = input_image_urls(task.input)
        png = task_png(task, index, source=self._files.upload_content(urls[0]) if urls else None)
        return Reply(200, png, {"Content-Type": "image/png", "Cache-Control": "max-age=86400"})
