"""Personas and helpers of the partner API tests: a partner with a key and credits, a webhook receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from artio.services import api_key_create
from billing.services import account_for_user, balance_adjust


def grant(user, credits, *, plan=None):
    """Give `user` credits through the ledger (as a staff adjustment would), optionally a plan."""
    account = account_for_user(user=user)
    if plan:
        type(account).objects.filter(pk=account.pk).update(plan=plan)
    balance_adjust(account_id=account.pk, amount=credits, reason="test credits")
    account.refresh_from_db()
    return account


def client_for(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    # Throttle counters live in the cache; every test starts with none.
    yield


@pytest.fixture
def enqueued(monkeypatch):
    """Record django-q2 tasks instead of queueing them: a list of (func, args)."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls


@pytest.fixture
def alice_key(alice):
    grant(alice, 1000, plan="premium")
    _api_key, raw_key = api_key_create(user=alice, name="alice server")
    return raw_key


@pytest.fixture
def bob_key(bob):
    grant(bob, 500, plan="premium")
    _api_key, raw_key = api_key_create(user=bob, name="bob server")
    return raw_key


@pytest.fixture
def alice_api(alice_key):
    return client_for(alice_key)


@pytest.fixture
def bob_api(bob_key):
    return client_for(bob_key)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        with server.lock:
            server.received.append({"path": self.path, "headers": dict(self.headers), "raw": body})
            status, location = server.replies.pop(0) if server.replies else (200, None)
            server.arrived.notify_all()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class WebhookReceiver:
    """A partner's webhook endpoint on 127.0.0.1, port 0, recording every POST."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.received = []
        self.server.replies = []  # (status, Location) for the next POSTs; 200 once they run out
        self.server.lock = threading.Lock()
        self.server.arrived = threading.Condition(self.server.lock)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/artio"

    @property
    def received(self):
        return self.server.received

    def reply_next(self, status, location=None):
        self.server.replies.append((status, location))

    def json(self, index=-1):
        return json.loads(self.received[index]["raw"])


@pytest.fixture
def receiver():
    hook = WebhookReceiver()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
