"""Fixtures of the generation tests: funded users, tasks run in-process, a fresh media folder."""

import importlib
import time

import pytest
from django.db import OperationalError

from billing.services import account_for_user, balance_adjust
from catalog.services import catalog_seed
from generation import pipeline
from generation.models import Generation


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fund():
    """Return fund(user, credits, plan=None): give a user credits (and a plan) through the ledger."""

    # Transactional tests flush the tables the seed migration filled; put the catalogue back.
    catalog_seed()

    def fund(user, credits, plan=None):
        account = account_for_user(user=user)
        if credits:
            balance_adjust(account_id=account.pk, amount=credits, reason="test funds")
        if plan:
            account.plan = plan
            account.save(update_fields=["plan"])
        account.refresh_from_db()
        return account

    return fund


class TaskRunner:
    """Stands in for django-q2: records every enqueued task and runs the pipeline's own at once."""

    def __init__(self):
        self.calls = []
        self.clusters = []
        self.run = True

    def __call__(self, func, *args, cluster=None):
        self.calls.append((func, args))
        self.clusters.append((func, cluster))
        if self.run and func.startswith("generation.tasks."):
            module, name = func.rsplit(".", 1)
            getattr(importlib.import_module(module), name)(*args)

    def named(self, func):
        return [args for name, args in self.calls if name == func]


@pytest.fixture
def tasks(monkeypatch):
    runner = TaskRunner()
    monkeypatch.setattr(pipeline, "task_enqueue", runner)
    # This stand-in broker is not a table in the database, so tasks are handed over on commit.
    monkeypatch.setattr(pipeline, "broker_in_database", lambda: False)
    return runner


@pytest.fixture
def kie(kie_sandbox, settings):
    """The KIE sandbox with a fast rate window, so tests never wait 10 s for a slot."""
    settings.KIE_CREATE_RATE = "20/1s"
    # Callbacks go nowhere unless a test serves the app (live_server); port 9 refuses at once.
    settings.ARTIO_PUBLIC_URL = "http://127.0.0.1:9"
    kie_sandbox.create_rate = (20, 1.0)
    return kie_sandbox


def wait_for(predicate, timeout=10.0, every=0.05):
    """Return once predicate() is true; fail the test after `timeout` seconds.

    A moment when SQLite answers "locked" (another thread of the live server writing) counts as
    "not yet".
    """
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        try:
            if predicate():
                return
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
        time.sleep(every)
    raise AssertionError("condition not met in time")


def read(query, timeout=5.0):
    """Return query() once SQLite lets the test thread read (see wait_for)."""
    result = []
    wait_for(lambda: result.append(query()) or True, timeout=timeout)
    return result[0]


def answer_lost_callbacks(kie, count):
    """Once KIE has called back for `count` tasks in all, re-read each task whose callback failed.

    A callback that met a locked SQLite database answered 500 and KIE gave up on it; in production
    the poller re-reads such a task, and this does the same, at once.
    """
    wait_for(lambda: len(kie.callbacks) >= count, timeout=20)
    for task_id in {c["task_id"] for c in kie.callbacks if c["status"] != 200}:
        pk = read(lambda: Generation.objects.get(kie_task_id=task_id).pk)  # noqa: B023
        wait_for(lambda: pipeline.generation_refresh(generation_id=pk) or True)  # noqa: B023


@pytest.fixture
def alice_client(client, alice, fund):
    """A client signed in as alice, whose account exists (with no credits)."""
    fund(alice, 0)
    client.force_login(alice)
    return client
