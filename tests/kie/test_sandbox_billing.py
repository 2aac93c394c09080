"""The simulator bills like KIE: the seed's price row on success, 0 on failure, and what tests ask for."""

import time
from decimal import Decimal

import pytest

from catalog.seed import SEED_MODELS


def finished(client, task_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.record_info(task_id=task_id)
        if record.finished:
            return record
        time.sleep(0.03)
    raise AssertionError("task never finished")


def seed_price(kie_model, variant=""):
    entry = next(e for e in SEED_MODELS if e["kie_model"] == kie_model)
    return next(p["kie_credits"] for p in entry["prices"] if p["variant"] == variant)


@pytest.mark.parametrize(
    ("model", "input", "expected"),
    [
        ("google/imagen4-fast", {"prompt": "x", "num_images": "3"}, 3 * seed_price("google/imagen4-fast")),
        ("grok-imagine/text-to-image", {"prompt": "x"}, seed_price("grok-imagine/text-to-image")),
        (
            "flux-2/pro-text-to-image",
            {"prompt": "a lighthouse", "aspect_ratio": "1:1", "resolution": "2K"},
            seed_price("flux-2/pro-text-to-image", "2K"),
        ),
    ],
    ids=["per-image", "per-task", "variant"],
)
def test_success_bills_the_price_row(client, kie_sandbox, model, input, expected):
    before = kie_sandbox.credits
    record = finished(client, client.create_task(model=model, input=input))
    assert record.succeeded and record.credits_consumed == expected
    assert before - kie_sandbox.credits == expected


def test_a_running_task_has_billed_nothing_and_a_failure_bills_nothing(client, kie_sandbox):
    kie_sandbox.set_latency(5)
    running = client.record_info(
        task_id=client.create_task(model="google/imagen4-fast", input={"prompt": "x"})
    )
    assert not running.finished and running.credits_consumed == 0
    kie_sandbox.set_latency(0.05, 0.1)
    before = kie_sandbox.credits
    kie_sandbox.fail_next(state="fail")
    record = finished(client, client.create_task(model="google/imagen4-fast", input={"prompt": "x"}))
    assert record.failed and record.credits_consumed == 0 and kie_sandbox.credits == before


def test_tests_can_make_it_bill_more_or_bill_a_failure(client, kie_sandbox):
    kie_sandbox.bill_next(Decimal("9.5"))
    kie_sandbox.bill_next(2)
    kie_sandbox.fail_next(state="fail", times=1)
    before = kie_sandbox.credits
    failed = finished(client, client.create_task(model="google/imagen4-fast", input={"prompt": "x"}))
    over = finished(client, client.create_task(model="google/imagen4-fast", input={"prompt": "x"}))
    normal = finished(client, client.create_task(model="google/imagen4-fast", input={"prompt": "x"}))
    assert (failed.failed, failed.credits_consumed) == (True, Decimal("9.5"))
    assert (over.succeeded, over.credits_consumed) == (True, Decimal(2))
    assert normal.credits_consumed == seed_price("google/imagen4-fast")
    assert before - kie_sandbox.credits == Decimal("9.5") + 2 + seed_price("google/imagen4-fast")


def test_old_style_reports_the_bill_as_consume_credits(client, kie_sandbox):
    kie_sandbox.style = "old"
    kie_sandbox.bill_next(7)
    record = finished(client, client.create_task(model="google/imagen4-fast", input={"prompt": "x"}))
    assert record.raw["consumeCredits"] == 7 and record.credits_consumed == 7
