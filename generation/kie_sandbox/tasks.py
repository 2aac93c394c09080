"""A simulated KIE task: its timeline, and the record KIE reports for it.

See docs/reference/kie-api.md §2.2 and §3.1.
"""

from dataclasses import dataclass
from decimal import Decimal

from .billing import task_bill
from .server import json_dumps

FINISHED_STATES = ("success", "fail")


@dataclass
class SandboxTask:
    task_id: str
    model: str
    input: dict
    callback_url: str | None
    created: float
    due: float
    image_count: int
    cost: Decimal
    fail: tuple[str, str] | None = None
    # A bill forced by a test (`KieSandbox.bill_next`), reported whatever the task's end.
    bill: Decimal | None = None
    state: str = "waiting"
    completed: float | None = None

    @property
    def finished(self):
        return self.state in FINISHED_STATES

    def progress(self, now):
        """Move a running task to the state its share of elapsed time implies; True when due."""
        if self.finished:
            return False
        if now >= self.due:
            return True
        elapsed = (now - self.created) / max(self.due - self.created, 1e-6)
        self.state = "waiting" if elapsed < 0.15 else "queuing" if elapsed < 0.3 else "generating"
        return False

    def finish(self, now, *, fail=None):
        """End the task: in `fail` with (failCode, failMsg) when given or already planned."""
        self.completed = now
        self.fail = self.fail or fail
        self.state = "fail" if self.fail else "success"


def _ms(seconds):
    return int(seconds * 1000) if seconds is not None else None


def task_record(task, *, style, result_urls, remaining_credits):
    """Return the task as recordInfo's `data` (and a callback's) shows it, in KIE's `style`.

    "new": `param.input` encoded a second time, `successFlag`, `creditsConsumed`, `response`,
    `failCode`/`failMsg` null on success. "old": `consumeCredits`/`remainedCredits`, "" fields.
    """
    new = style == "new"
    ok = task.state == "success"
    empty = None if new else ""
    param = {
        "model": task.model,
        "callBackUrl": task.callback_url,
        "input": json_dumps(task.input) if new else task.input,
    }
    urls = result_urls if ok else []
    credits = task_bill(task)
    record = {
        "taskId": task.task_id,
        "model": task.model,
        "state": task.state,
        "param": json_dumps(param),
        "resultJson": json_dumps({"resultUrls": urls}) if ok else empty,
        "failCode": task.fail[0] if task.state == "fail" else empty,
        "failMsg": task.fail[1] if task.state == "fail" else empty,
        "costTime": _ms(task.completed - task.created) if task.finished else 0,
        "createTime": _ms(task.created),
        "updateTime": _ms(task.completed or task.created),
        "completeTime": _ms(task.completed) if task.finished else None,
    }
    if new:
        record["successFlag"] = {"success": 1, "fail": 3}.get(task.state, 0)
        record["creditsConsumed"] = credits
        if ok:
            record["response"] = {"resultUrls": urls}
    else:
        record["consumeCredits"] = credits
        record["remainedCredits"] = remaining_credits
    return record


def callback_body(record, *, message_key):
    """Return the body KIE POSTs to callBackUrl: code 200 or 501 around the record (§3.1)."""
    ok = record["state"] == "success"
    return {
        "code": 200 if ok else 501,
        message_key: "Playground task completed successfully." if ok else "Playground task failed.",
        "data": record,
    }
