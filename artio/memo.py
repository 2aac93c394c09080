"""Per-process memory of rows every request reads and staff rarely edit (a model and its prices,
the dispatch pause, a partner's terms), kept right across processes by one version in the shared cache.

`memo_get(name, key, loader)` returns the value remembered under the current version, or calls
`loader()` and remembers it. `memo_bump(name)` (call it on every write of what `name` holds) sets a
new version, so every process reloads on its next read. The version is a random token, not a
counter: a version lost from the cache (eviction, a flush) becomes a new token, never an old one
a process still holds values for.

A bump happens at once and again when the writer's transaction commits: the first makes this
process (and tests, whose transactions never commit) see the edit; the second keeps a reader that
loaded the old row just before the commit from filing it under the new version.

A request reads the version once (at its first memo_get): one cache read per request. Imports no app.
"""

import contextvars
import threading
import uuid

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction

VERSION_KEY = "artio:memo:version"
# Plenty for the model catalogue and the partners; a flood of unknown slugs only empties it.
MAX_ENTRIES = 5000

_MISSING = object()
_lock = threading.Lock()
_store = {}  # name -> (version, {key: value})
# The version this request read first (None outside a request, or before its first memo_get).
_request_version = contextvars.ContextVar("artio_memo_version", default=None)
_in_request = contextvars.ContextVar("artio_memo_in_request", default=False)


def _version():
    version = _request_version.get()
    if version is not None:
        return version
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)  # whoever added first
    if version is not None and _in_request.get():
        _request_version.set(version)
    return version


def memo_get(name, key, loader):
    """Return the value of `name`/`key`, from this process's memory when the version still holds."""
    version = _version()
    if version is None:  # a cache that keeps nothing (DummyCache): no memory at all
        return loader()
    entry = _store.get(name)
    if entry is not None and entry[0] == version:
        value = entry[1].get(key, _MISSING)
        if value is not _MISSING:
            return value
    value = loader()
    with _lock:
        entry = _store.get(name)
        if entry is None or entry[0] != version:
            entry = (version, {})
            _store[name] = entry
        if len(entry[1]) >= MAX_ENTRIES:
            entry[1].clear()
        entry[1][key] = value
    return value


def _bump():
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    _request_version.set(None)


def memo_bump(name):
    """Forget everything remembered, in every process: `name` was written (now, or at commit)."""
    with _lock:
        _store.pop(name, None)
    _bump()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump)


def memo_clear():
    """Forget everything in this process (tests: a rolled-back database does not bump)."""
    with _lock:
        _store.clear()
    _request_version.set(None)


def _request_begins(**kwargs):
    _in_request.set(True)
    _request_version.set(None)


def _request_ends(**kwargs):
    _in_request.set(False)
    _request_version.set(None)


request_started.connect(_request_begins, dispatch_uid="artio.memo.request_started")
request_finished.connect(_request_ends, dispatch_uid="artio.memo.request_finished")
