"""The KIE simulator as a process of its own, which writes its task log as JSON when stopped.

`python bench/kie_process.py --port P --rate 50/5 --latency 1-3 --log FILE`: serves KIE's API like
`manage.py kie_sandbox` and, on SIGTERM, writes what KIE saw to FILE (the createTask calls it let
through and refused, and every task with its callback URL and times) before exiting. The cluster
test checks the workers against that log, so the simulator's memory is not shared with anyone.
"""

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import django  # noqa: E402

django.setup()  # the simulator validates inputs against the seed catalogue's schemas

from generation.kie_sandbox.core import KieSandbox  # noqa: E402


def task_log(sandbox):
    with sandbox._lock:
        tasks = [
            {
                "task_id": task.task_id,
                "callback_url": task.callback_url,
                "created": task.created,
                "completed": task.completed,
                "state": task.state,
            }
            for task in sandbox.tasks.values()
        ]
    return {
        "create_calls": list(sandbox.create_calls),
        "rejected_creates": sandbox.rejected_creates,
        "tasks": tasks,
        "callbacks_failed": sum(
            1 for c in list(sandbox.callbacks) if c["error"] or (c["status"] or 200) >= 400
        ),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", default="20/10", help="createTask cap: CALLS/SECONDS")
    parser.add_argument("--latency", default="1-3", help="task duration LOW-HIGH seconds")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    calls, window = args.rate.split("/")
    low, _, high = args.latency.partition("-")
    sandbox = KieSandbox(
        port=args.port,
        latency=(float(low), float(high or low)),
        create_rate=(int(calls), float(window)),
        max_tasks=10_000,
        seed=1,
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"KIE simulator on {sandbox.base_url}", flush=True)
    while not stop.wait(0.5):
        pass
    Path(args.log).write_text(json.dumps(task_log(sandbox)))
    sandbox.stop()


if __name__ == "__main__":
    main()
