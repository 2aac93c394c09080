"""The global createTask rate limit, shared by every worker through the database.

KIE allows 20 createTask calls per 10 s for the whole account and rejects (does not queue) the
rest, so we must never exceed it, whatever the number of workers or hosts. The budget "N/Ws" is N
slot rows (`KieCreateSlot`); a slot can be taken once its last call finished a full window (plus a
small margin for clock jitter) ago, and taking it is a compare-and-swap on `used_at`. No locks are held
and no Redis is needed, so it works the same on SQLite and PostgreSQL.
"""

import re
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .models import KieCreateSlot

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m)?\s*$")


def rate_parse(text):
    """Return (calls, window_seconds) for a rate like "20/10s", "20/1s", "5/m" or "100/500ms"."""
    match = _RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"KIE_CREATE_RATE must look like 20/10s, not {text!r}")
    calls = int(match.group(1))
    amount = float(match.group(2) or 1)
    unit = match.group(3) or "s"
    window = amount * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    if window <= 0:
        raise ImproperlyConfigured(f"KIE_CREATE_RATE needs a positive window, not {text!r}")
    return calls, window


def _margin(window):
    # A slot's window is counted from the moment KIE's answer reached us, which is after KIE saw the
    # request, so the network already stands between two uses on KIE's clock. The margin only
    # covers clock differences between hosts and KIE counting a little differently; every percent of
    # it is a percent of KIE's rate never used.
    return max(0.02 * window, 0.05)


def _slots_ensure(calls):
    if KieCreateSlot.objects.filter(pk__lte=calls).count() < calls:
        KieCreateSlot.objects.bulk_create(
            [KieCreateSlot(id=i) for i in range(1, calls + 1)], ignore_conflicts=True
        )


# While a createTask call is in flight its slot counts as used "in the future" by this much (longer
# than the client's connect + read timeout), so nobody reuses it before we know when KIE saw it.
HOLD_SECONDS = 30.0


def create_slot_take(*, now=None):
    """Take one createTask slot; return (slot_id, 0.0), or (None, seconds until one may free up).

    The slot is held until `create_slot_release` records when the call finished: the request
    reached KIE before its response reached us, so a window counted from the response is always
    at least a window on KIE's side too, whatever the latency. A worker that dies holding a slot
    loses it for HOLD_SECONDS only.
    """
    calls, window = rate_parse(settings.KIE_CREATE_RATE)
    _slots_ensure(calls)
    span = window + _margin(window)
    now = time.time() if now is None else now
    free = list(
        KieCreateSlot.objects.filter(pk__lte=calls, used_at__lte=now - span)
        .order_by("used_at")
        .values_list("pk", "used_at")[:5]
    )
    for pk, used_at in free:
        # Compare-and-swap: only one worker moves this slot from the `used_at` it read.
        if KieCreateSlot.objects.filter(pk=pk, used_at=used_at).update(used_at=now + HOLD_SECONDS):
            return pk, 0.0
    oldest = KieCreateSlot.objects.filter(pk__lte=calls).order_by("used_at").values_list("used_at", flat=True)
    first = oldest.first() or 0.0
    return None, max(0.01, first + span - now)


def create_slot_release(slot_id, *, now=None):
    """Record that the call made with this slot has finished; its window starts now."""
    KieCreateSlot.objects.filter(pk=slot_id).update(used_at=time.time() if now is None else now)


def create_slot_return(slot_id):
    """Give back a slot taken but never used for a call; it was free, so it is free again at once."""
    KieCreateSlot.objects.filter(pk=slot_id).update(used_at=0.0)


def create_slot_acquire(*, timeout):
    """Wait up to `timeout` seconds for a createTask slot; return its id, or None."""
    deadline = time.monotonic() + timeout
    while True:
        slot_id, wait = create_slot_take()
        if slot_id is not None:
            return slot_id
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        # Poll at least every 0.25 s so contending workers notice freed slots soon.
        time.sleep(min(wait, remaining, 0.25))
