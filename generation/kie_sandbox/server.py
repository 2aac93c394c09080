"""The simulator's HTTP plumbing: a threaded server, request parsing and envelope replies."""

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger("generation.kie_sandbox")

MAX_BODY_BYTES = 40 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        """Return the body as a JSON object, or None when it is not one."""
        try:
            value = json.loads(self.body or b"null")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def form(self):
        """Return (fields, files) of a multipart body; files map name → (filename, type, bytes)."""
        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}, {}
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + self.body)
        fields, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, part.get_content_type(), payload)
            else:
                fields[name] = payload.decode("utf-8", "replace")
        return fields, files


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)


def _jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(value):
    return json.dumps(value, default=_jsonable, separators=(",", ":"))


def json_reply(payload, status=200):
    return Reply(status, json_dumps(payload).encode(), {"Content-Type": "application/json"})


class _Handler(BaseHTTPRequestHandler):
    server_version = "KieSandbox/1.0"
    # One request per connection: simple and robust under shutdown.
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self):
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            reply = json_reply({"code": 400, "msg": "Bad Content-Length", "data": None}, 400)
        elif length > MAX_BODY_BYTES:
            reply = json_reply({"code": 413, "msg": "Request body too large", "data": None}, 413)
        else:
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            reply = self.server.sandbox.handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections when a burst (many workers, many
    # tests' threads) connects at once; KIE's real front end does not.
    request_queue_size = 128

    def __init__(self, address, sandbox):
        self.sandbox = sandbox
        super().__init__(address, _Handler)
