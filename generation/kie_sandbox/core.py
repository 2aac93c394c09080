"""KieSandbox: a KIE simulator that speaks KIE's HTTP API (docs/kie-sandbox.md).

It answers like KIE does, quirks included: errors inside HTTP 200 (or as HTTP statuses when
`http_errors=True`), `param` with a double-encoded `input`, JSON-in-strings, KIE's createTask
rate limit, signed callbacks. Tests drive it through attributes and `fail_next`; the
`kie_sandbox` management command serves it for `make run`.
"""

import base64
import binascii
import hashlib
import heapq
import hmac
import logging
import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import parse_qs, urlsplit

import requests

from catalog.schemas import InputInvalid, kie_schema, validate_input
from generation.kie import callback_signature

from .images import placeholder_png
from .server import Reply, SandboxHTTPServer, json_dumps, json_reply

logger = logging.getLogger("generation.kie_sandbox")

ENDPOINTS = ("createTask", "recordInfo", "credit", "upload")
UPLOAD_MAX_BYTES = 30 * 1024 * 1024
FAIL_PROMPT_MARKER = "sandbox:fail"


@dataclass
class SandboxTask:
    task_id: str
    model: str
    input: dict
    callback_url: str | None
    created: float
    due: float
    image_count: int
    cost: Decimal
    fail: tuple[str, str] | None = None
    state: str = "waiting"
    completed: float | None = None


@dataclass
class Forced:
    """A canned reply for the next call to one endpoint."""

    code: int | None = None
    msg: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str = "text/html"
    delay: float = 0.0


@dataclass
class Upload:
    content: bytes
    content_type: str
    expires: float
    name: str = ""


@lru_cache(maxsize=64)
def _render(prompt, aspect, index, total, model):
    # Results are drawn on request, not stored: memory stays bounded whatever the traffic.
    return placeholder_png(prompt=prompt, aspect=aspect, index=index, total=total, model=model)


def _ms(seconds):
    return int(seconds * 1000) if seconds is not None else None


@dataclass
class _Callback:
    task_id: str
    url: str
    body: bytes
    records: list = field(default_factory=list)


class KieSandbox:
    """A threaded HTTP server speaking KIE's API. `start()`, use `.base_url`, `stop()`."""

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
        self.tasks: OrderedDict[str, SandboxTask] = OrderedDict()
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self.create_calls = deque(maxlen=10_000)  # time.time() of every createTask let through
        self.rejected_creates = 0
        self.callbacks = []  # one dict per delivery attempt (or drop), for tests to inspect
        self._models = None if models is None else self._index(models)
        self._permissive = False
        self._forced = {name: deque() for name in ENDPOINTS}
        self._forced_fails = deque()
        self._random = random.Random(seed)
        self._url_key = secrets.token_bytes(16)
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
        """Stop serving and finishing; safe to call twice."""
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 (a comparison)
        return f"http://{host}:{self.port}"

    # --- knobs --------------------------------------------------------------------------------

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
        with self._lock:
            for _ in range(times):
                if state == "fail":
                    self._forced_fails.append((str(fail_code), fail_msg))
                else:
                    forced = Forced(code, msg, http_status, body, content_type, delay)
                    self._forced[endpoint].append(forced)

    def file_url(self, path, *, expires):
        """Return the public URL of `path` signed to expire at Unix time `expires`."""
        expires = int(expires)
        signature = hmac.new(self._url_key, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.public_base or self.base_url}{path}?expires={expires}&sig={signature[:32]}"

    # --- replies ------------------------------------------------------------------------------

    def _envelope(self, code, msg, data=None):
        status = code if self.http_errors and code != 200 and 400 <= code < 600 else 200
        return json_reply({"code": code, self.message_key: msg, "data": data}, status)

    def _forced_reply(self, endpoint):
        with self._lock:
            queue = self._forced[endpoint]
            forced = queue.popleft() if queue else None
        if forced is None:
            return None
        if forced.delay:
            time.sleep(forced.delay)
        if forced.body is not None:
            return Reply(forced.http_status or 200, forced.body, {"Content-Type": forced.content_type})
        if forced.code is None:
            return None
        reply = self._envelope(forced.code, forced.msg or f"Simulated error {forced.code}")
        if forced.http_status:
            reply.status = forced.http_status
        return reply

    def handle(self, request):
        """Route one HTTP request to its endpoint and return a Reply."""
        routes = {
            ("POST", "/api/v1/jobs/createTask"): ("createTask", self._create_task),
            ("GET", "/api/v1/jobs/recordInfo"): ("recordInfo", self._record_info),
            ("GET", "/api/v1/chat/credit"): ("credit", self._credit),
            ("POST", "/api/file-stream-upload"): ("upload", self._upload_stream),
            ("POST", "/api/file-base64-upload"): ("upload", self._upload_base64),
        }
        try:
            if request.method in ("GET", "HEAD") and request.path.startswith(("/files/", "/uploads/")):
                return self._serve_file(request)
            route = routes.get((request.method, request.path))
            if route is None:
                return self._envelope(404, "Not found")
            endpoint, view = route
            if not self._authorised(request):
                return self._envelope(401, "You do not have access permissions")
            forced = self._forced_reply(endpoint)
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

    @staticmethod
    def _index(models):
        if isinstance(models, dict):
            return dict(models)
        return {entry["kie_model"]: entry["input_schema"] for entry in models}

    def _schema_for(self, model):
        """Return (known, schema); the catalogue seed is read lazily, on first use."""
        if self._models is None:
            try:
                from catalog.seed import SEED_MODELS  # lazy: read on first use, and optional
            except ImportError:
                logger.warning("catalog.seed is missing: the KIE sandbox accepts any model unchecked")
                self._models, self._permissive = {}, True
            else:
                self._models = self._index(SEED_MODELS)
        schema = self._models.get(model)
        return (schema is not None or self._permissive), schema

    def _validate(self, model, data):
        """Return an error message like KIE's 422, or None when the input is acceptable."""
        if not isinstance(model, str) or not model:
            return "model is required"
        known, schema = self._schema_for(model)
        if not known:
            return f"The model {model} is not supported"
        if not isinstance(data, dict):
            return "input must be an object"
        if schema is None:
            return None
        try:
            validate_input(kie_schema(schema), data)
        except InputInvalid as exc:
            return str(exc)
        return None

    def _rate_limited(self, now):
        limit, window = self.create_rate
        with self._lock:
            recent = 0
            for stamp in reversed(self.create_calls):
                if stamp <= now - window:
                    break
                recent += 1
            if recent >= limit:
                self.rejected_creates += 1
                return True
            self.create_calls.append(now)
            return False

    @staticmethod
    def _image_count(model, data):
        try:
            count = int(data.get("num_images", 0))
        except (TypeError, ValueError):
            count = 0
        if count <= 0:
            count = 6 if model.startswith("grok-imagine") else 1
        return min(count, 10)

    def _create_task(self, request):
        body = request.json()
        if body is None:
            return self._envelope(400, "Request body must be a JSON object")
        now = time.time()
        if self._rate_limited(now):
            return self._envelope(429, "Rate limit exceeded")
        model, data = body.get("model"), body.get("input")
        error = self._validate(model, data)
        if error:
            return self._envelope(422, error)
        callback_url = body.get("callBackUrl")
        if callback_url is not None and (
            not isinstance(callback_url, str) or not callback_url.startswith(("http://", "https://"))
        ):
            return self._envelope(422, "callBackUrl must be an http(s) URL")
        count = self._image_count(model, data)
        cost = self.credits_per_image * count
        with self._lock:
            if self.credits < cost:
                return self._envelope(402, "Credits insufficient")
            fail = self._forced_fails.popleft() if self._forced_fails else None
            if fail is None and self._inputs_gone(data):
                fail = ("400", "Failed to fetch the input image: the link is missing or expired")
            if fail is None and FAIL_PROMPT_MARKER in str(data.get("prompt", "")):
                fail = ("400", "Your prompt was flagged by the content filter")
            if fail is None and self._random.random() < self.failure_rate:
                fail = ("500", "Internal server error")
            task = SandboxTask(
                task_id=uuid.uuid4().hex,
                model=model,
                input=dict(data),
                callback_url=callback_url,
                created=now,
                due=now + self._random.uniform(*self.latency),
                image_count=count,
                cost=cost,
                fail=fail,
            )
            self.tasks[task.task_id] = task
            heapq.heappush(self._due, (task.due, task.task_id))
            self._prune(now)
            self._wake.notify_all()
        reply = {"taskId": task.task_id}
        if self.style == "new":
            reply["recordId"] = uuid.uuid4().hex  # newer KIE sends one; clients must ignore it
        return self._envelope(200, "success", reply)

    def _prune(self, now):
        # Keep memory bounded: forget tasks past their retention, then the oldest finished ones
        # over max_tasks; unfinished tasks go only when twice that many pile up.
        over = len(self.tasks) - self.max_tasks
        for task_id, task in list(self.tasks.items()):
            finished = task.completed is not None
            expired = finished and task.completed < now - self.result_ttl
            if expired or (over > 0 and finished) or len(self.tasks) > 2 * self.max_tasks:
                del self.tasks[task_id]
                over -= 1
        for key in list(self.uploads):
            if self.uploads[key].expires >= now and len(self.uploads) <= 500:
                break
            del self.uploads[key]

    # --- task progress, recordInfo, callbacks -------------------------------------------------

    def _advance(self, task, now):
        """Move a task along its timeline; return a callback to send when it just finished."""
        if task.state in ("success", "fail"):
            return None
        if now < task.due:
            elapsed = (now - task.created) / max(task.due - task.created, 1e-6)
            task.state = "waiting" if elapsed < 0.15 else "queuing" if elapsed < 0.3 else "generating"
            return None
        task.completed = now
        if task.fail is None and self.credits >= task.cost:
            task.state = "success"
            self.credits -= task.cost
        else:
            task.state = "fail"
            task.fail = task.fail or ("402", "Credits insufficient")
        if not task.callback_url:
            return None
        ok = task.state == "success"
        body = {
            "code": 200 if ok else 501,
            self.message_key: "Playground task completed successfully." if ok else "Playground task failed.",
            "data": self._record(task),
        }
        return _Callback(task.task_id, task.callback_url, json_dumps(body).encode())

    def _result_urls(self, task):
        expires = (task.completed or task.created) + self.result_ttl
        return [
            self.file_url(f"/files/{task.task_id}/{n}.png", expires=expires)
            for n in range(1, task.image_count + 1)
        ]

    def _record(self, task):
        new = self.style == "new"
        done, ok = task.state in ("success", "fail"), task.state == "success"
        empty = None if new else ""
        param = {
            "model": task.model,
            "callBackUrl": task.callback_url,
            # Newer KIE encodes `input` a second time inside the `param` JSON text.
            "input": json_dumps(task.input) if new else task.input,
        }
        urls = self._result_urls(task) if ok else []
        credits = task.cost if ok else Decimal(0)
        record = {
            "taskId": task.task_id,
            "model": task.model,
            "state": task.state,
            "param": json_dumps(param),
            "resultJson": json_dumps({"resultUrls": urls}) if ok else empty,
            "failCode": task.fail[0] if task.state == "fail" else empty,
            "failMsg": task.fail[1] if task.state == "fail" else empty,
            "costTime": _ms(task.completed - task.created) if done else 0,
            "createTime": _ms(task.created),
            "updateTime": _ms(task.completed or task.created),
            "completeTime": _ms(task.completed) if done else None,
        }
        if new:
            record["successFlag"] = {"success": 1, "fail": 3}.get(task.state, 0)
            record["creditsConsumed"] = credits
            if ok:
                record["response"] = {"resultUrls": urls}
        else:
            record["consumeCredits"] = credits
            record["remainedCredits"] = self.credits
        return record

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
            self._send_later(callback)
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
                self._send_later(callback)

    def _send_later(self, callback):
        threading.Thread(
            target=self._deliver, args=(callback,), name="kie-sandbox-callback", daemon=True
        ).start()

    def _deliver(self, callback):
        mode = self.callback_mode if self.callbacks_enabled else "drop"
        if mode == "drop":
            self._log_callback(callback, dropped=True)
            return
        if mode == "late":
            time.sleep(self.callback_late_seconds)
        for _ in range(2 if mode == "twice" else 1):
            self._post(callback)

    def _post(self, callback):
        headers = {"Content-Type": "application/json", "User-Agent": "KieSandbox/1.0"}
        if self.hmac_key:
            stamp = str(int(time.time()))
            headers["X-Webhook-Timestamp"] = stamp
            headers["X-Webhook-Signature"] = callback_signature(
                task_id=callback.task_id, timestamp=stamp, key=self.hmac_key
            )
        try:
            response = requests.post(callback.url, data=callback.body, headers=headers, timeout=15)
        except requests.RequestException as exc:
            self._log_callback(callback, headers=headers, error=str(exc))
            return
        self._log_callback(callback, headers=headers, status=response.status_code)

    def _log_callback(self, callback, *, dropped=False, headers=None, status=None, error=None):
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
            self.callbacks.append(entry)
            del self.callbacks[:-1000]

    # --- credit, uploads, files ---------------------------------------------------------------

    def _credit(self, request):
        with self._lock:
            return self._envelope(200, "success", self.credits)

    def _store_upload(self, *, content, content_type, upload_path, file_name):
        if len(content) > UPLOAD_MAX_BYTES:
            return self._envelope(400, "File too large")
        now = time.time()
        key = uuid.uuid4().hex
        name = PurePosixPath(file_name or "").name or f"{key}.bin"
        with self._lock:
            self.uploads[key] = Upload(
                content, content_type or "application/octet-stream", now + self.upload_ttl
            )
            self._prune(now)
        data = {
            "fileName": name,
            "filePath": f"{upload_path}/{name}",
            "downloadUrl": self.file_url(f"/uploads/{key}/{name}", expires=now + self.upload_ttl),
            "fileSize": len(content),
            "mimeType": content_type,
            "uploadedAt": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds"),
        }
        reply = {"success": True, "code": 200, self.message_key: "File uploaded successfully", "data": data}
        return json_reply(reply)

    def _upload_stream(self, request):
        fields, files = request.form()
        upload_path = fields.get("uploadPath", "").strip("/")
        if not upload_path:
            return self._envelope(400, "Missing required parameter: uploadPath")
        if "file" not in files:
            return self._envelope(400, "Missing required parameter: file")
        filename, content_type, content = files["file"]
        return self._store_upload(
            content=content,
            content_type=content_type,
            upload_path=upload_path,
            file_name=fields.get("fileName") or filename,
        )

    def _upload_base64(self, request):
        body = request.json() or {}
        upload_path = str(body.get("uploadPath") or "").strip("/")
        if not upload_path:
            return self._envelope(400, "Missing required parameter: uploadPath")
        data = body.get("base64Data")
        content_type = "application/octet-stream"
        if isinstance(data, str) and data.startswith("data:"):
            header, _, data = data.partition(",")
            content_type = header[5:].split(";")[0] or content_type
        try:
            content = base64.b64decode(data or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            content = b""
        if not content:
            return self._envelope(400, "Base64 decoding failed: invalid base64Data")
        return self._store_upload(
            content=content,
            content_type=content_type,
            upload_path=upload_path,
            file_name=body.get("fileName"),
        )

    def _link_status(self, path, query):
        """Return 200 for a valid signed link, 404 for a forged one, 410 for an expired one."""
        expires, signature = query.get("expires", ""), query.get("sig", "")
        if not expires.isdigit() or not signature:
            return 404
        expected = self.file_url(path, expires=int(expires)).rsplit("sig=", 1)[1]
        if not hmac.compare_digest(expected, signature):
            return 404
        return 410 if int(expires) < time.time() else 200

    def _inputs_gone(self, data):
        """Return True when an input names one of our upload links that is forged or expired.

        KIE fetches input images itself; a dead link fails the task. Outside URLs are not
        fetched (the sandbox runs offline) and count as reachable.
        """
        prefix = f"{self.public_base or self.base_url}/uploads/"
        values = [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
        for value in values:
            if not isinstance(value, str) or not value.startswith(prefix):
                continue
            parts = urlsplit(value)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            key = parts.path.split("/")[2] if parts.path.count("/") >= 3 else ""
            if self._link_status(parts.path, query) != 200 or key not in self.uploads:
                return True
        return False

    def _serve_file(self, request):
        status = self._link_status(request.path, request.query)
        if status == 404:
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        if status == 410:
            return Reply(410, b"Gone: this link has expired", {"Content-Type": "text/plain"})
        parts = request.path.strip("/").split("/")
        with self._lock:
            if parts[0] == "uploads" and len(parts) >= 2 and parts[1] in self.uploads:
                upload = self.uploads[parts[1]]
                return Reply(200, upload.content, {"Content-Type": upload.content_type})
            task = self.tasks.get(parts[1]) if parts[0] == "files" and len(parts) == 3 else None
        if task is None or task.state != "success":
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        try:
            index = int(parts[2].removesuffix(".png"))
        except ValueError:
            index = 0
        if not 1 <= index <= task.image_count:
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        aspect = str(task.input.get("aspect_ratio") or task.input.get("image_size") or "1:1")
        png = _render(str(task.input.get("prompt", "")), aspect, index, task.image_count, task.model)
        return Reply(200, png, {"Content-Type": "image/png", "Cache-Control": "max-age=86400"})
