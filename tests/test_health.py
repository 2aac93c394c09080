"""GET /healthz: database, broker, storage and dispatch, 200 when all pass and 503 otherwise."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.tasks import async_task

from billing.services import account_for_user, balance_adjust
from generation import pipeline, services
from generation.models import Generation
from generation.pipeline import dispatch_pause, dispatch_resume

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"


def without_timing(check):
    return {key: value for key, value in check.items() if key != "ms"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_all_checks_pass_is_200_json_never_cached(client, tmp_path):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage", "dispatch"}
    assert all(check["ok"] for check in body["checks"].values())
    assert without_timing(body["checks"]["dispatch"]) == {
        "ok": True,
        "paused": False,
        "reason": "",
        "dispatcher": False,
        "stalled": False,
    }
    assert "no-store" in response["Cache-Control"]
    # The probe file is gone again.
    assert not any(path.is_file() for path in (tmp_path / "media").rglob("*"))


def test_a_signed_in_user_is_not_needed_and_head_works(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_orm_broker_reports_the_queued_tasks(client):
    async_task("math.floor", 1.5)
    async_task("math.floor", 2.5)

    broker = client.get("/healthz").json()["checks"]["broker"]

    assert broker["ok"] is True
    assert broker["kind"] == "orm"
    assert broker["queued"] == 2


def test_paused_dispatch_is_503_with_the_reason(client):
    dispatch_pause(reason="KIE answered 402: credits insufficient")

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["dispatch"]["paused"] is True
    assert body["checks"]["dispatch"]["reason"] == "KIE answered 402: credits insufficient"
    assert body["checks"]["database"]["ok"] is True


def test_resumed_dispatch_is_200_again(client):
    dispatch_pause(reason="KIE answered 401: bad key")
    dispatch_resume()

    assert client.get("/healthz").status_code == 200


def test_storage_that_cannot_write_is_503_naming_only_the_error_class(client, settings, tmp_path):
    # given a media root that is a file, so no image could be stored either
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker

    response = client.get("/healthz")

    assert response.status_code == 503
    storage = response.json()["checks"]["storage"]
    assert storage["ok"] is False
    assert storage["error"] in {"NotADirectoryError", "FileExistsError"}
    assert str(tmp_path) not in response.content.decode()


def test_unreachable_redis_broker_is_503(client, settings):
    # given a Redis URL on a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://:hunter2@127.0.0.1:{port}/0"}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert without_timing(response.json()["checks"]["broker"]) == {"ok": False, "error": "ConnectionError"}
    assert "hunter2" not in response.content.decode()


def test_queued_work_waiting_minutes_with_no_dispatcher_is_503(client, alice, monkeypatch):
    # given: a generation queued ten minutes ago, and no dispatcher holding the lease
    monkeypatch.setattr(pipeline, "task_enqueue", lambda func, *args, **options: None)
    account = account_for_user(user=alice)
    balance_adjust(account_id=account.pk, amount=10, reason="test credits")
    generation = services.generation_create(
        user=alice, model_slug="google/imagen4-fast", data={"prompt": "x"}
    )
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["dispatch"] | {"ms": 0} == {
        "ok": False,
        "paused": False,
        "reason": "",
        "dispatcher": False,
        "stalled": True,
        "ms": 0,
    }
