"""The one module that talks HTTP to KIE (docs/reference/kie-api.md).

KIE's API has quirks this client absorbs so the rest of the app never sees them: errors arrive as
HTTP errors *or* as HTTP 200 with an error `code` in the body; the message key is `msg` or
`message`; `data` is null on errors; `resultJson` and `param` are JSON text (with `param.input`
sometimes encoded twice); credits are `creditsConsumed` or `consumeCredits`; times are Unix ms;
Cloudflare may answer with an HTML page. Every failure becomes one `KieError` that says whether
to retry later, to alert staff, or (neither) to fail the generation and refund it.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

USER_AGENT = "Artio/1.0 (+https://artio.example)"
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")
SANDBOX_API_KEY = "sandbox"

# 401 bad key, 402 KIE account out of credits, 433 sub-key over its limit: no generation can
# succeed until a person acts, so dispatch pauses instead of failing (and refunding) everything.
ALERT_CODES = frozenset({401, 402, 433})
# Rate limits, KIE's "upstream provider having issues" (408), 455 (service unavailable) and
# server errors pass; 501 ("generation failed") and 505 ("feature disabled") are final answers:
# asking again will neither redo this task nor switch the feature back on.
RETRYABLE_CODES = frozenset({408, 429, 455})
FINAL_SERVER_CODES = frozenset({501, 505})

STATES = ("waiting", "queuing", "generating", "success", "fail")
RUNNING_STATES = ("waiting", "queuing", "generating")
# successFlag, KIE's newer numeric state: 0 running, 1 success, 2 create failed, 3 generation failed.
_SUCCESS_FLAG_STATES = {0: "generating", 1: "success", 2: "fail", 3: "fail"}


def _code_retryable(code):
    if code is None:
        return True
    return code in RETRYABLE_CODES or (code >= 500 and code not in FINAL_SERVER_CODES)


class KieError(Exception):
    """A KIE call failed. `retryable` → try again later; `alert` → pause dispatch and tell staff;
    neither → the generation has failed for good (refund it).

    `code` is KIE's body code or the HTTP status; None for transport errors and timeouts.
    """

    def __init__(self, message, *, code=None, retryable=None, alert=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.alert = code in ALERT_CODES if alert is None else alert
        if retryable is None:
            retryable = not self.alert and _code_retryable(code)
        self.retryable = retryable

    def __repr__(self):
        return (
            f"KieError(code={self.code!r}, message={self.message!r}, "
            f"retryable={self.retryable}, alert={self.alert})"
        )


@dataclass(frozen=True)
class TaskRecord:
    """One KIE task as `recordInfo` (or a callback) describes it."""

    task_id: str
    state: str
    result_urls: list[str] = field(default_factory=list)
    fail_code: str = ""
    fail_msg: str = ""
    credits_consumed: Decimal | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    raw: dict = field(default_factory=dict)

    @property
    def succeeded(self):
        return self.state == "success"

    @property
    def failed(self):
        return self.state == "fail"

    @property
    def finished(self):
        return self.state in ("success", "fail")


# --- Parsing (pure functions, unit-tested on raw bodies from the docs) ------------------------


def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _json_text(value):
    """Return `value` decoded when it is JSON text, else unchanged (KIE nests JSON in strings)."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def envelope_parse(*, status, body):
    """Return the `data` of a KIE response, or raise KieError.

    An error is a non-2xx status *or* a body `code` other than 200 (KIE reports most failures
    inside HTTP 200). A body that is not a JSON object (Cloudflare's HTML, an empty reply) is an
    error too, retryable unless the status says otherwise.
    """
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        snippet = body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:120]
        if 200 <= status < 300:
            raise KieError(f"KIE sent a non-JSON reply: {snippet!r}", code=None)
        raise KieError(f"KIE answered HTTP {status} (not JSON): {snippet!r}", code=status)

    message = payload.get("msg") or payload.get("message") or ""
    message = message if isinstance(message, str) else json.dumps(message)
    body_code = _as_int(payload.get("code"))
    if not 200 <= status < 300:
        code = body_code if body_code not in (None, 200) else status
        raise KieError(message or f"KIE answered HTTP {status}", code=code)
    if body_code is None:
        # The upload host adds `success`; a reply with neither is not one we understand.
        if payload.get("success") is True:
            return payload.get("data")
        raise KieError(message or "KIE's reply carries no code", code=None)
    if body_code != 200:
        raise KieError(message or f"KIE answered code {body_code}", code=body_code)
    return payload.get("data")


def _ms_datetime(value):
    number = _as_int(value)
    if number is None or number <= 0:
        return None
    # KIE documents milliseconds; a value this small can only be seconds.
    seconds = number / 1000 if number > 100_000_000_000 else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _decimal(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _result_urls(result):
    if not isinstance(result, dict):
        return []
    urls = result.get("resultUrls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        return []
    return [url for url in urls if isinstance(url, str) and url]


def task_record_parse(data):
    """Return a TaskRecord from the `data` object of recordInfo or of a callback body."""
    if not isinstance(data, dict):
        raise KieError("KIE sent no task record", code=None)
    raw = dict(data)
    param = _json_text(raw.get("param"))
    if isinstance(param, dict):
        param = dict(param)
        param["input"] = _json_text(_json_text(param.get("input")))
    raw["param"] = param
    raw["resultJson"] = _json_text(raw.get("resultJson"))
    if "response" in raw:
        raw["response"] = _json_text(raw["response"])

    task_id = raw.get("taskId") or raw.get("task_id") or ""
    state = str(raw.get("state") or "").strip().lower()
    if state not in STATES:
        flag = _as_int(raw.get("successFlag"))
        # Unknown states read as still running: polling goes on until the deadline.
        state = _SUCCESS_FLAG_STATES.get(flag, "generating")

    urls = _result_urls(raw.get("response")) or _result_urls(raw["resultJson"])
    credits = raw.get("creditsConsumed")
    if credits is None:
        credits = raw.get("consumeCredits")
    return TaskRecord(
        task_id=_text(task_id),
        state=state,
        result_urls=urls,
        fail_code=_text(raw.get("failCode")),
        fail_msg=_text(raw.get("failMsg")),
        credits_consumed=_decimal(credits),
        created_at=_ms_datetime(raw.get("createTime")),
        completed_at=_ms_datetime(raw.get("completeTime")),
        raw=raw,
    )


def callback_task_id(body):
    """Return the task id a callback body names (`data.taskId`, `data.task_id`, or top-level)."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    candidates = []
    if isinstance(data, dict):
        candidates += [data.get("taskId"), data.get("task_id")]
    candidates += [body.get("taskId"), body.get("task_id")]
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def callback_signature(*, task_id, timestamp, key):
    """Return KIE's signature: base64(HMAC-SHA256(key, f"{task_id}.{timestamp}"))."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def callback_signature_ok(*, task_id, timestamp, signature, key, max_age_seconds=300):
    """Return True when a callback's X-Webhook-Signature is KIE's and its timestamp is fresh.

    KIE signs only `taskId.timestamp` (not the body) and names no replay window, so we refuse
    timestamps more than `max_age_seconds` away from now in either direction.
    """
    if not (task_id and timestamp and signature and key):
        return False
    stamp = _as_int(timestamp)
    if stamp is None or abs(time.time() - stamp) > max_age_seconds:
        return False
    expected = callback_signature(task_id=task_id, timestamp=timestamp, key=key)
    return hmac.compare_digest(expected.encode(), signature.encode())


def _sniff_image(head):
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


# --- The client -------------------------------------------------------------------------------


class KieClient:
    """KIE's Market jobs API, account credit, file upload, and result download."""

    def __init__(self, *, api_base, upload_base, api_key, timeout=(3.05, 20)):
        self.api_base = api_base.rstrip("/")
        self.upload_base = upload_base.rstrip("/")
        self.timeout = timeout
        self._api_key = api_key
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def _auth(self):
        return {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}

    def _call(self, method, url, **kwargs):
        headers = self._auth()
        if not ({"json", "files", "data"} & kwargs.keys()):
            # KIE's docs warn a missing Content-Type can be answered with 401, even on GET.
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout as exc:
            raise KieError(f"KIE timed out: {exc}", code=None) from exc
        except requests.RequestException as exc:
            raise KieError(f"Could not reach KIE: {exc}", code=None) from exc
        return envelope_parse(status=response.status_code, body=response.content)

    def create_task(self, *, model, input, callback_url=None):
        """Create a task and return its taskId (poll with taskId, never recordId)."""
        body = {"model": model, "input": input}
        if callback_url:
            body["callBackUrl"] = callback_url
        data = self._call("POST", f"{self.api_base}/api/v1/jobs/createTask", json=body)
        task_id = data.get("taskId") if isinstance(data, dict) else None
        task_id = str(task_id) if isinstance(task_id, str | int) and not isinstance(task_id, bool) else ""
        if not task_id:
            raise KieError("KIE accepted the task but sent no taskId", code=None)
        return task_id

    def record_info(self, *, task_id):
        """Return the task as KIE sees it now."""
        data = self._call("GET", f"{self.api_base}/api/v1/jobs/recordInfo", params={"taskId": task_id})
        if data is None:
            raise KieError("KIE sent an empty task record", code=None)
        record = task_record_parse(data)
        if not record.task_id:
            return replace(record, task_id=task_id)
        if record.task_id != task_id:
            # Never let another task's result stand for this one (its images, its failure).
            raise KieError(f"KIE answered for task {record.task_id!r}, not {task_id!r}", code=None)
        return record

    def account_credit(self):
        """Return the KIE account's remaining credits."""
        data = self._call("GET", f"{self.api_base}/api/v1/chat/credit")
        if isinstance(data, dict):  # tolerate a wrapped number
            data = data.get("credits", data.get("balance"))
        credit = _decimal(data)
        if credit is None:
            raise KieError(f"KIE sent no credit balance: {data!r}", code=None)
        return credit

    @staticmethod
    def _unique_name(filename):
        # KIE overwrites a reused fileName; one upload path is shared by all our users.
        suffix = PurePosixPath(filename or "").suffix.lower()[:8]
        return f"{uuid.uuid4().hex}{suffix}"

    @staticmethod
    def _download_url(data):
        # A real-key test found `downloadUrl`; KIE's quickstart page shows `fileUrl` instead.
        data = data if isinstance(data, dict) else {}
        url = data.get("downloadUrl") or data.get("fileUrl")
        if not isinstance(url, str) or not url:
            raise KieError("KIE's upload reply has no downloadUrl", code=None)
        return url

    def upload_file(self, *, content, filename, content_type, upload_path="artio/uploads"):
        """Upload a file (multipart stream) and return the downloadUrl to put in a model's input."""
        name = self._unique_name(filename)
        data = self._call(
            "POST",
            f"{self.upload_base}/api/file-stream-upload",
            files={"file": (name, content, content_type)},
            data={"uploadPath": upload_path.strip("/"), "fileName": name},
        )
        return self._download_url(data)

    def upload_base64(self, *, content, filename, content_type, upload_path="artio/uploads"):
        """Upload a small file as a base64 data URL and return its downloadUrl."""
        encoded = base64.b64encode(content).decode()
        name = self._unique_name(filename)
        data = self._call(
            "POST",
            f"{self.upload_base}/api/file-base64-upload",
            json={
                "base64Data": f"data:{content_type};base64,{encoded}",
                "uploadPath": upload_path.strip("/"),
                "fileName": name,
            },
        )
        return self._download_url(data)

    def download(self, *, url, max_bytes):
        """Return (content, content_type) of a result file.

        Streams, and refuses (not retryable) a body over `max_bytes` or anything that is not a
        PNG, JPEG or WebP both by its Content-Type and by its first bytes. No Authorization header:
        result files live on other hosts, which must never see our key.
        """
        if not url.startswith(("https://", "http://")):
            raise KieError(f"Not a web URL: {url[:80]!r}", code=None, retryable=False)
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout)
        except requests.Timeout as exc:
            raise KieError(f"Download timed out: {exc}", code=None) from exc
        except requests.RequestException as exc:
            raise KieError(f"Download failed: {exc}", code=None) from exc
        with response:
            status = response.status_code
            if status != 200:
                # 404/410: KIE's temporary file has expired, asking again will not bring it back.
                raise KieError(f"Download answered HTTP {status}", code=status)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in IMAGE_CONTENT_TYPES:
                raise KieError(f"Not an image: {content_type or 'no type'}", code=None, retryable=False)
            declared = _as_int(response.headers.get("Content-Length"))
            if declared is not None and declared > max_bytes:
                raise KieError(f"File too large ({declared} bytes)", code=None, retryable=False)
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise KieError(f"File larger than {max_bytes} bytes", code=None, retryable=False)
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise KieError(f"Download broke off: {exc}", code=None) from exc
        content = b"".join(chunks)
        sniffed = _sniff_image(content[:16])
        if sniffed is None:
            raise KieError("The file is not a PNG, JPEG or WebP image", code=None, retryable=False)
        return content, sniffed


def kie_client(*, timeout=(3.05, 20)):
    """Return a KieClient configured from settings (the simulator's in sandbox mode)."""
    api_key = settings.KIE_API_KEY or (SANDBOX_API_KEY if settings.KIE_SANDBOX else "")
    return KieClient(
        api_base=settings.KIE_API_BASE,
        upload_base=settings.KIE_UPLOAD_BASE,
        api_key=api_key,
        timeout=timeout,
    )
