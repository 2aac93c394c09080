"""The real django-q2 worker (qcluster, forked processes) runs tasks against PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.models import Success
from django_q.tasks import async_task

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_qcluster_workers_run_every_task_on_postgresql():
    # given a qcluster on the test database (its workers are forked after Django set up)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # when twenty tasks are queued
        for number in range(20):
            async_task("math.floor", number + 0.5)

        # then all twenty are done within a generous bound
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Success.objects.filter(func="math.floor").count() < 20:
            time.sleep(0.5)
        assert Success.objects.filter(func="math.floor").count() == 20
        assert sorted(Success.objects.values_list("result", flat=True)) == list(range(20))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
