"""KIE's callback HMAC (docs/reference/kie-api.md §3.3), checked against the doc's own algorithm."""

import base64
import hashlib
import hmac
import time

from generation.kie import callback_signature_ok

KEY = "whk_test_key"
TASK = "e989621f54392584b05867f87b160672"


def doc_signature(task_id, timestamp, key):
    msg = f"{task_id}.{timestamp}".encode()
    return base64.b64encode(hmac.new(key.encode(), msg, hashlib.sha256).digest()).decode()


def test_good_signature_passes():
    stamp = str(int(time.time()))
    assert callback_signature_ok(
        task_id=TASK, timestamp=stamp, signature=doc_signature(TASK, stamp, KEY), key=KEY
    )


def test_signature_with_another_key_fails():
    stamp = str(int(time.time()))
    signature = doc_signature(TASK, stamp, "someone-else")
    assert not callback_signature_ok(task_id=TASK, timestamp=stamp, signature=signature, key=KEY)


def test_signature_for_another_task_fails():
    stamp = str(int(time.time()))
    signature = doc_signature("another-task", stamp, KEY)
    assert not callback_signature_ok(task_id=TASK, timestamp=stamp, signature=signature, key=KEY)


def test_stale_timestamp_fails_even_when_signed():
    stamp = str(int(time.time()) - 301)
    signature = doc_signature(TASK, stamp, KEY)
    assert not callback_signature_ok(task_id=TASK, timestamp=stamp, signature=signature, key=KEY)
    assert callback_signature_ok(
        task_id=TASK, timestamp=stamp, signature=signature, key=KEY, max_age_seconds=600
    )


def test_future_timestamp_fails():
    stamp = str(int(time.time()) + 3600)
    assert not callback_signature_ok(
        task_id=TASK, timestamp=stamp, signature=doc_signature(TASK, stamp, KEY), key=KEY
    )


def test_missing_parts_fail():
    stamp = str(int(time.time()))
    good = doc_signature(TASK, stamp, KEY)
    assert not callback_signature_ok(task_id=TASK, timestamp=stamp, signature="", key=KEY)
    assert not callback_signature_ok(task_id=TASK, timestamp="", signature=good, key=KEY)
    assert not callback_signature_ok(task_id="", timestamp=stamp, signature=good, key=KEY)
    assert not callback_signature_ok(task_id=TASK, timestamp=stamp, signature=good, key="")


def test_non_numeric_timestamp_fails():
    assert not callback_signature_ok(
        task_id=TASK, timestamp="yesterday", signature=doc_signature(TASK, "yesterday", KEY), key=KEY
    )
