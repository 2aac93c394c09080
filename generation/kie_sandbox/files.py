"""Files the simulator hands out: signed, expiring links, and the uploads they point at."""

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import parse_qs, urlsplit

from .server import Reply

UPLOAD_MAX_BYTES = 30 * 1024 * 1024  # KIE's largest per-file input limit (nano-banana-pro)
# What the simulator keeps at most, whatever the uploads' lifetimes: the oldest go first.
MAX_UPLOADS = 500
MAX_STORED_BYTES = 256 * 1024 * 1024


class LinkSigner:
    """Sign `path?expires=…&sig=…` links, like KIE's temporary file hosts (gone after expiry)."""

    def __init__(self):
        self._key = secrets.token_bytes(16)

    def signature(self, path, expires):
        return hmac.new(self._key, f"{path}|{int(expires)}".encode(), hashlib.sha256).hexdigest()[:32]

    def query(self, path, expires):
        """Return the query string that makes `path` valid until Unix time `expires`."""
        return f"expires={int(expires)}&sig={self.signature(path, expires)}"

    def status(self, path, query):
        """Return 200 for a valid link, 404 for a forged one, 410 for an expired one."""
        expires, signature = query.get("expires", ""), query.get("sig", "")
        if not expires.isdigit() or not signature:
            return 404
        if not hmac.compare_digest(self.signature(path, int(expires)), signature):
            return 404
        return 410 if int(expires) < time.time() else 200


@dataclass
class Upload:
    content: bytes
    content_type: str
    expires: float


class UploadStore(OrderedDict):
    """Uploaded files by key, oldest first; expired ones, and the oldest beyond MAX_UPLOADS files
    or MAX_STORED_BYTES in all, are forgotten.

    Not locked itself: FileHost calls it under its lock.
    """

    def add(self, *, content, content_type, ttl, now):
        """Store the bytes and return their key."""
        if len(content) > UPLOAD_MAX_BYTES:
            raise ValueError(f"File too large (over {UPLOAD_MAX_BYTES} bytes)")
        key = uuid.uuid4().hex
        self[key] = Upload(content, content_type or "application/octet-stream", now + ttl)
        self.prune(now)
        return key

    def prune(self, now):
        stored = sum(len(upload.content) for upload in self.values())
        for key in list(self):
            upload = self[key]
            if upload.expires >= now and len(self) <= MAX_UPLOADS and stored <= MAX_STORED_BYTES:
                break
            stored -= len(upload.content)
            del self[key]


def stream_upload_parse(request):
    """Return (content, content_type, upload_path, file_name) of a multipart upload.

    Raise ValueError with KIE's message when `uploadPath` or the `file` part is missing.
    """
    fields, files = request.form()
    upload_path = fields.get("uploadPath", "").strip("/")
    if not upload_path:
        raise ValueError("Missing required parameter: uploadPath")
    if "file" not in files:
        raise ValueError("Missing required parameter: file")
    filename, content_type, content = files["file"]
    return content, content_type, upload_path, fields.get("fileName") or filename


def base64_upload_parse(request):
    """Return (content, content_type, upload_path, file_name) of a base64 upload (plain or data URL)."""
    body = request.json() or {}
    upload_path = str(body.get("uploadPath") or "").strip("/")
    if not upload_path:
        raise ValueError("Missing required parameter: uploadPath")
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
        raise ValueError("Base64 decoding failed: invalid base64Data")
    return content, content_type, upload_path, body.get("fileName")


def plain_reply(status, text):
    return Reply(status, text.encode(), {"Content-Type": "text/plain"})


class FileHost:
    """KIE's upload host and temporary file links, served by the simulator.

    `public_base()` returns the base URL links start with (read per call: the port is known only
    once the server is bound).
    """

    def __init__(self, public_base):
        self.uploads = UploadStore()
        self.links = LinkSigner()
        self._public_base = public_base
        self._lock = threading.Lock()

    def url(self, path, expires):
        """Return the public URL of `path` signed to expire at Unix time `expires`."""
        return f"{self._public_base()}{path}?{self.links.query(path, expires)}"

    def upload(self, request, *, base64_body, ttl):
        """Store an upload (multipart, or base64 JSON) and return the `data` of KIE's reply.

        Raise ValueError with KIE's 400 message for a request KIE would refuse.
        """
        parse = base64_upload_parse if base64_body else stream_upload_parse
        content, content_type, upload_path, file_name = parse(request)
        now = time.time()
        with self._lock:
            key = self.uploads.add(content=content, content_type=content_type, ttl=ttl, now=now)
        name = PurePosixPath(file_name or "").name or f"{key}.bin"
        # The fields a real-key test found (docs/reference/kie-api.md §5.1), not the quickstart page's.
        return {
            "fileName": name,
            "filePath": f"{upload_path}/{name}",
            "downloadUrl": self.url(f"/uploads/{key}/{name}", now + ttl),
            "fileSize": len(content),
            "mimeType": content_type,
            "uploadedAt": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds"),
        }

    def serve_upload(self, request):
        """Return the Reply for GET /uploads/<key>/<name>?expires=&sig=."""
        status = self.links.status(request.path, request.query)
        if status != 200:
            return plain_reply(status, "Gone: this link has expired" if status == 410 else "Not Found")
        parts = request.path.split("/")
        with self._lock:
            upload = self.uploads.get(parts[2]) if len(parts) > 3 else None
        if upload is None:
            return plain_reply(404, "Not Found")
        return Reply(200, upload.content, {"Content-Type": upload.content_type})

    def inputs_gone(self, data):
        """Return True when an input names one of our upload links that is forged or expired.

        KIE fetches input images itself; a dead link fails the task. Outside URLs are not
        fetched (the sandbox runs offline) and count as reachable.
        """
        prefix = f"{self._public_base()}/uploads/"
        values = [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
        for value in values:
            if not isinstance(value, str) or not value.startswith(prefix):
                continue
            parts = urlsplit(value)
            query = {name: found[-1] for name, found in parse_qs(parts.query).items()}
            segments = parts.path.split("/")
            with self._lock:
                known = len(segments) > 3 and segments[2] in self.uploads
            if not known or self.links.status(parts.path, query) != 200:
                return True
        return False

    def upload_content(self, url):
        """Return the bytes of one of our upload links if it is valid and still held, else None."""
        prefix = f"{self._public_base()}/uploads/"
        if not isinstance(url, str) or not url.startswith(prefix):
            return None
        parts = urlsplit(url)
        query = {name: found[-1] for name, found in parse_qs(parts.query).items()}
        segments = parts.path.split("/")
        if len(segments) <= 3 or self.links.status(parts.path, query) != 200:
            return None
        with self._lock:
            upload = self.uploads.get(segments[2])
        return upload.content if upload else None

    def prune(self, now):
        with self._lock:
            self.uploads.prune(now)
