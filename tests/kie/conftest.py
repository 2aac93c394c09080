import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generation.kie import KieClient

# A small catalogue in KIE's own terms, so simulator tests do not depend on the seed's details.
MODELS = [
    {
        "kie_model": "google/imagen4-fast",
        "input_schema": {
            "type": "object",
            "required": ["prompt"],
            "additionalProperties": False,
            "properties": {
                "prompt": {"type": "string", "maxLength": 5000},
                "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9", "9:16", "3:4", "4:3"]},
                "num_images": {"type": "integer", "enum": [1, 2, 3, 4], "x-kie-type": "string"},
            },
        },
    },
    {
        "kie_model": "grok-imagine/text-to-image",
        "images_per_task": 6,
        "input_schema": {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "maxLength": 5000}},
        },
    },
]


@pytest.fixture
def client(kie_sandbox):
    """A KieClient pointed at the running simulator, with short timeouts."""
    return KieClient(
        api_base=kie_sandbox.base_url, upload_base=kie_sandbox.base_url, api_key="sandbox", timeout=(1, 2)
    )


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append({"headers": dict(self.headers), "body": json.loads(body)})
            self.server.arrived.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class CallbackReceiver:
    """An HTTP endpoint on port 0 that records every POST (our side of KIE's callbacks)."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        self.server.received = []
        self.server.lock = threading.Lock()
        self.server.arrived = threading.Condition(self.server.lock)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kie/callback"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def received(self):
        return list(self.server.received)

    def wait_for(self, count, timeout=5.0):
        with self.server.arrived:
            self.server.arrived.wait_for(lambda: len(self.server.received) >= count, timeout=timeout)
        return self.received

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = CallbackReceiver()
    yield receiver
    receiver.close()
