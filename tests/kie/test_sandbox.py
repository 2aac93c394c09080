"""The KIE simulator itself: validation like KIE's, the rate limit, callbacks, files, lifecycle."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from generation.kie import KieClient, KieError, callback_signature_ok, task_record_parse
from generation.kie_sandbox import files
from generation.kie_sandbox.core import KieSandbox

from .conftest import MODELS

AUTH = {"Authorization": "Bearer any-key"}
GOOD = {"prompt": "a quiet harbour", "aspect_ratio": "1:1", "num_images": "1"}


@pytest.fixture
def local():
    """A simulator on the small local catalogue, fast tasks."""
    with KieSandbox(models=MODELS, latency=(0.05, 0.1), seed=7) as sandbox:
        yield sandbox


def create(sandbox, model="google/imagen4-fast", input=GOOD, **extra):
    body = {"model": model, "input": input, **extra}
    return requests.post(f"{sandbox.base_url}/api/v1/jobs/createTask", json=body, headers=AUTH, timeout=5)


def record(sandbox, task_id):
    response = requests.get(
        f"{sandbox.base_url}/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH, timeout=5
    )
    return response.json()


def wait_state(sandbox, task_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = record(sandbox, task_id)["data"]
        if data["state"] in ("success", "fail"):
            return data
        time.sleep(0.03)
    raise AssertionError("task never finished")


# --- validation --------------------------------------------------------------------------------


def test_valid_input_creates_a_task(local):
    body = create(local).json()
    assert body["code"] == 200 and len(body["data"]["taskId"]) == 32


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({**GOOD, "prompt": "x" * 5001}, "prompt"),
        ({**GOOD, "aspect_ratio": "2:1"}, "aspect_ratio"),
        ({**GOOD, "num_images": "5"}, "num_images"),
        ({**GOOD, "num_images": 2}, "num_images"),  # KIE wants the string "2"
        ({"aspect_ratio": "1:1"}, "prompt"),
        ({**GOOD, "colour": "red"}, "colour"),
    ],
)
def test_invalid_input_is_422_inside_http_200(local, input, field):
    response = create(local, input=input)
    assert response.status_code == 200
    assert response.json()["code"] == 422 and field in response.json()["msg"]
    assert response.json()["data"] is None
    assert local.tasks == {}


def test_unknown_model_is_422(local):
    assert create(local, model="made-up/model").json()["code"] == 422


def test_http_errors_mode_uses_the_status_too(local):
    local.http_errors = True
    response = create(local, model="made-up/model")
    assert response.status_code == 422 and response.json()["code"] == 422


def test_bad_callback_url_is_refused(local):
    assert create(local, callBackUrl="ftp://x/y").json()["code"] == 422


def test_missing_or_empty_bearer_is_401(local):
    for headers in ({}, {"Authorization": "Bearer "}, {"apikey": "k"}):
        response = requests.get(f"{local.base_url}/api/v1/chat/credit", headers=headers, timeout=5)
        assert response.json()["code"] == 401


def test_default_catalogue_comes_from_the_seed(kie_sandbox):
    from catalog.seed import SEED_MODELS

    entry = next(m for m in SEED_MODELS if m["kie_model"] == "google/imagen4-fast")
    assert entry["input_schema"]["properties"]["prompt"]
    assert (
        create(kie_sandbox, input={"prompt": "ok", "aspect_ratio": "1:1", "num_images": "1"}).json()["code"]
        == 200
    )
    assert create(kie_sandbox, input={"prompt": "ok", "num_images": "9"}).json()["code"] == 422
    assert create(kie_sandbox, model="made-up/model").json()["code"] == 422


def test_record_info_needs_a_task_id(local):
    response = requests.get(f"{local.base_url}/api/v1/jobs/recordInfo", headers=AUTH, timeout=5)
    assert response.json() == {"code": 400, "msg": "taskId parameter is required", "data": None}


# --- rate limit --------------------------------------------------------------------------------


def test_twenty_first_create_within_ten_seconds_is_429(local):
    codes = [create(local).json()["code"] for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    assert len(local.create_calls) == 20 and local.rejected_creates == 1


def test_rate_limit_holds_under_concurrent_calls(local):
    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(lambda _: create(local).json()["code"], range(40)))
    assert codes.count(200) == 20 and codes.count(429) == 20
    assert len(local.tasks) == 20 and local.rejected_creates == 20


def test_rate_window_slides(local):
    local.create_rate = (2, 0.3)
    assert [create(local).json()["code"] for _ in range(3)] == [200, 200, 429]
    time.sleep(0.35)
    assert create(local).json()["code"] == 200


# --- task lifecycle ----------------------------------------------------------------------------


def test_task_moves_from_waiting_to_success(local):
    local.set_latency(1.0)
    task_id = create(local).json()["data"]["taskId"]
    first = record(local, task_id)["data"]
    assert first["state"] in ("waiting", "queuing") and first["successFlag"] == 0
    time.sleep(0.45)
    assert record(local, task_id)["data"]["state"] == "generating"
    final = wait_state(local, task_id)
    assert final["state"] == "success" and final["successFlag"] == 1
    assert json.loads(json.loads(final["param"])["input"]) == GOOD
    assert final["completeTime"] >= final["createTime"]


def test_grok_returns_six_images_and_others_one(local):
    grok = create(local, model="grok-imagine/text-to-image", input={"prompt": "x"}).json()["data"]["taskId"]
    data = wait_state(local, grok)
    assert len(json.loads(data["resultJson"])["resultUrls"]) == 6


def test_failure_rate_one_fails_every_task(local):
    local.failure_rate = 1.0
    data = wait_state(local, create(local).json()["data"]["taskId"])
    assert data["state"] == "fail" and data["failCode"] == "500" and data["creditsConsumed"] == 0


def test_prompt_marker_fails_like_a_content_filter(local):
    data = wait_state(
        local, create(local, input={**GOOD, "prompt": "sandbox:fail please"}).json()["data"]["taskId"]
    )
    assert data["state"] == "fail" and data["failCode"] == "400"


def test_success_spends_sandbox_credits(local):
    before = local.credits
    wait_state(local, create(local, input={**GOOD, "num_images": "3"}).json()["data"]["taskId"])
    assert before - local.credits == 3 * local.credits_per_image


def test_memory_is_bounded_and_keeps_running_tasks(local):
    local.max_tasks = 5
    local.create_rate = (100, 10.0)
    finished = [create(local).json()["data"]["taskId"] for _ in range(5)]
    for task_id in finished:
        wait_state(local, task_id)
    local.set_latency(30)
    running = [create(local).json()["data"]["taskId"] for _ in range(5)]
    assert set(local.tasks) == set(running)
    for _ in range(10):
        create(local)
    assert len(local.tasks) <= 10


def test_uploads_are_bounded_by_count_and_bytes(local, monkeypatch):
    monkeypatch.setattr(files, "MAX_UPLOADS", 3)
    monkeypatch.setattr(files, "MAX_STORED_BYTES", 250)
    client = KieClient(api_base=local.base_url, upload_base=local.base_url, api_key="k")
    urls = [client.upload_file(content=b"x" * 100, filename="a", content_type="image/png") for _ in range(4)]
    assert len(local.uploads) == 2  # 4 × 100 bytes over a 250-byte budget: the oldest two go
    assert [requests.get(url, timeout=5).status_code for url in urls] == [404, 404, 200, 200]


def test_upload_over_kies_size_limit_is_400(local, monkeypatch):
    monkeypatch.setattr(files, "UPLOAD_MAX_BYTES", 10)
    response = requests.post(
        f"{local.base_url}/api/file-stream-upload",
        files={"file": ("a.png", b"x" * 11)},
        data={"uploadPath": "p"},
        headers=AUTH,
        timeout=5,
    )
    assert response.json()["code"] == 400 and "too large" in response.json()["msg"]
    assert local.uploads == {}


def test_result_files_render_and_unknown_ones_do_not(local):
    data = wait_state(local, create(local).json()["data"]["taskId"])
    url = json.loads(data["resultJson"])["resultUrls"][0]
    assert requests.get(url, timeout=5).headers["Content-Type"] == "image/png"
    assert requests.get(url.replace("/1.png", "/2.png"), timeout=5).status_code == 404
    assert requests.get(url.split("?")[0], timeout=5).status_code == 404


def test_uploads_need_an_upload_path(local):
    response = requests.post(
        f"{local.base_url}/api/file-stream-upload", files={"file": ("a.png", b"x")}, headers=AUTH, timeout=5
    )
    assert response.json()["code"] == 400 and "uploadPath" in response.json()["msg"]
    response = requests.post(
        f"{local.base_url}/api/file-base64-upload",
        json={"base64Data": "!!not base64!!", "uploadPath": "p"},
        headers=AUTH,
        timeout=5,
    )
    assert response.json()["code"] == 400


# --- callbacks ---------------------------------------------------------------------------------


def test_callback_is_posted_and_signed(local, receiver):
    local.hmac_key = "whk_secret"
    task_id = create(local, callBackUrl=receiver.url).json()["data"]["taskId"]
    (delivery,) = receiver.wait_for(1)
    headers, body = delivery["headers"], delivery["body"]
    assert body["code"] == 200 and body["data"]["taskId"] == task_id
    assert task_record_parse(body["data"]).succeeded
    assert callback_signature_ok(
        task_id=task_id,
        timestamp=headers["X-Webhook-Timestamp"],
        signature=headers["X-Webhook-Signature"],
        key="whk_secret",
    )
    assert not callback_signature_ok(
        task_id=task_id,
        timestamp=headers["X-Webhook-Timestamp"],
        signature=headers["X-Webhook-Signature"],
        key="another",
    )


def test_callback_without_hmac_key_is_unsigned(local, receiver):
    create(local, callBackUrl=receiver.url)
    (delivery,) = receiver.wait_for(1)
    assert "X-Webhook-Signature" not in delivery["headers"]


def test_failed_task_callback_has_code_501(local, receiver):
    local.fail_next(state="fail", fail_code="400", fail_msg="refused")
    create(local, callBackUrl=receiver.url)
    (delivery,) = receiver.wait_for(1)
    assert delivery["body"]["code"] == 501 and delivery["body"]["data"]["failMsg"] == "refused"


def test_callback_sent_twice(local, receiver):
    local.callback_mode = "twice"
    task_id = create(local, callBackUrl=receiver.url).json()["data"]["taskId"]
    deliveries = receiver.wait_for(2)
    assert [d["body"]["data"]["taskId"] for d in deliveries] == [task_id, task_id]


def test_callback_dropped(local, receiver):
    local.callback_mode = "drop"
    task_id = create(local, callBackUrl=receiver.url).json()["data"]["taskId"]
    assert wait_state(local, task_id)["state"] == "success"
    time.sleep(0.3)
    assert receiver.received == []
    assert [c["dropped"] for c in local.callbacks if c["task_id"] == task_id] == [True]


def test_callbacks_disabled(local, receiver):
    local.callbacks_enabled = False
    wait_state(local, create(local, callBackUrl=receiver.url).json()["data"]["taskId"])
    time.sleep(0.2)
    assert receiver.received == []


def test_callback_sent_late(local, receiver):
    local.callback_mode = "late"
    local.callback_late_seconds = 0.6
    task_id = create(local, callBackUrl=receiver.url).json()["data"]["taskId"]
    finished = wait_state(local, task_id)
    assert receiver.received == []
    (delivery,) = receiver.wait_for(1)
    assert time.time() * 1000 - finished["completeTime"] >= 500
    assert delivery["body"]["data"]["taskId"] == task_id


def test_callback_goes_out_without_anyone_polling(local, receiver):
    create(local, callBackUrl=receiver.url)
    assert len(receiver.wait_for(1, timeout=3)) == 1


def test_client_and_sandbox_agree_end_to_end(local, receiver):
    client = KieClient(api_base=local.base_url, upload_base=local.base_url, api_key="k")
    task_id = client.create_task(model="google/imagen4-fast", input=GOOD, callback_url=receiver.url)
    receiver.wait_for(1)
    record = client.record_info(task_id=task_id)
    assert record.succeeded
    content, content_type = client.download(url=record.result_urls[0], max_bytes=1_000_000)
    assert content_type == "image/png" and content.startswith(b"\x89PNG")
    with pytest.raises(KieError):
        client.record_info(task_id=task_id + "x")


# --- lifecycle ---------------------------------------------------------------------------------


def test_stop_is_idempotent_and_frees_the_port():
    sandbox = KieSandbox(models=MODELS).start()
    url = sandbox.base_url
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/v1/chat/credit", headers=AUTH, timeout=1)


def sandbox_threads():
    return [t for t in threading.enumerate() if t.name.startswith("kie-sandbox") and t.is_alive()]


def test_callbacks_use_a_bounded_pool_of_threads(receiver):
    with KieSandbox(models=MODELS, latency=(0.05, 0.05), create_rate=(100, 10.0)) as sandbox:
        sandbox.callback_mode = "late"
        sandbox.callback_late_seconds = 0.5
        for _ in range(30):
            create(sandbox, callBackUrl=receiver.url)
        time.sleep(0.3)  # all 30 finished, their callbacks waiting
        callback_threads = [t for t in sandbox_threads() if t.name.startswith("kie-sandbox-callback")]
        assert 0 < len(callback_threads) <= 8
        assert len(receiver.wait_for(30, timeout=10)) == 30


def test_stop_drops_waiting_callbacks_and_leaves_no_threads(receiver):
    sandbox = KieSandbox(models=MODELS, latency=(0.05, 0.05)).start()
    sandbox.callback_mode = "late"
    sandbox.callback_late_seconds = 30
    task_id = create(sandbox, callBackUrl=receiver.url).json()["data"]["taskId"]
    time.sleep(0.3)
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 2
    assert sandbox_threads() == []
    assert [(c["task_id"], c["dropped"]) for c in sandbox.callbacks] == [(task_id, True)]
    assert receiver.received == []


def test_command_serves_and_stops_on_sigterm():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "kie_sandbox", "--port", "0", "--latency", "0.1"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "KIE sandbox on http://127.0.0.1:" in line
        base = line.split()[3]
        assert requests.get(base + "/api/v1/chat/credit", headers=AUTH, timeout=5).json()["code"] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- image inputs ------------------------------------------------------------------------------


def test_task_with_a_live_upload_link_succeeds_and_a_dead_one_fails(local):
    client = KieClient(api_base=local.base_url, upload_base=local.base_url, api_key="k")
    local.catalogue.schemas["edit/model"] = {
        "type": "object",
        "required": ["prompt", "image_urls"],
        "properties": {"prompt": {"type": "string"}, "image_urls": {"type": "array", "maxItems": 2}},
    }
    live = client.upload_file(content=b"\x89PNG\r\n\x1a\n", filename="in.png", content_type="image/png")
    path = live.split(local.base_url, 1)[1].split("?")[0]
    expired = local.file_url(path, expires=time.time() - 5)
    ok = create(local, model="edit/model", input={"prompt": "p", "image_urls": [live]}).json()
    gone = create(local, model="edit/model", input={"prompt": "p", "image_urls": [expired]}).json()
    assert wait_state(local, ok["data"]["taskId"])["state"] == "success"
    failed = wait_state(local, gone["data"]["taskId"])
    assert failed["state"] == "fail" and failed["failCode"] == "400"


# --- every seed model, validated like KIE (docs/reference/kie-api.md §7) -----------------------

URL = "https://example.com/in.png"
# Prompt limits as KIE's model pages state them (§7); models without one are left out.
PROMPT_LIMITS = {
    "google/imagen4-fast": 5000,
    "nano-banana-pro": 10000,
    "flux-2/pro-text-to-image": 5000,
    "seedream/4.5-text-to-image": 3000,
    "qwen/text-to-image": 5000,
    "ideogram/character": 5000,
}


def seed_models():
    from catalog.seed import SEED_MODELS

    return SEED_MODELS


def kie_input(schema):
    """Return a valid input in KIE's own terms: every required field, enums at their default."""
    values = {}
    for name in schema["required"]:
        prop = schema["properties"][name]
        if prop["type"] == "array":
            values[name] = [URL]
        elif name == "prompt":
            values[name] = "a red fox in the snow"
        elif "enum" in prop:
            values[name] = prop.get("default", prop["enum"][0])
        else:
            values[name] = URL
    if "num_images" in schema["properties"]:
        values["num_images"] = "1"  # KIE wants the string
    return values


@pytest.mark.parametrize("entry", seed_models(), ids=lambda entry: entry["kie_model"])
def test_every_seed_model_accepts_its_required_fields_and_refuses_them_missing(kie_sandbox, entry):
    kie_sandbox.create_rate = (1000, 10.0)
    schema, model = entry["input_schema"], entry["kie_model"]
    good = kie_input(schema)
    assert create(kie_sandbox, model=model, input=good).json()["code"] == 200
    for name in schema["required"]:
        missing = {key: value for key, value in good.items() if key != name}
        body = create(kie_sandbox, model=model, input=missing).json()
        assert body["code"] == 422 and name in body["msg"]
    if "num_images" in good:
        assert create(kie_sandbox, model=model, input={**good, "num_images": 1}).json()["code"] == 422


@pytest.mark.parametrize(("model", "limit"), PROMPT_LIMITS.items())
def test_prompt_limits_are_kies(kie_sandbox, model, limit):
    kie_sandbox.create_rate = (1000, 10.0)
    schema = next(entry["input_schema"] for entry in seed_models() if entry["kie_model"] == model)
    good = kie_input(schema)
    assert create(kie_sandbox, model=model, input={**good, "prompt": "x" * limit}).json()["code"] == 200
    assert create(kie_sandbox, model=model, input={**good, "prompt": "x" * (limit + 1)}).json()["code"] == 422


def test_fail_next_refuses_an_unknown_endpoint(local):
    with pytest.raises(ValueError, match="endpoint"):
        local.fail_next(500, endpoint="recordinfo")


def test_a_malformed_content_length_is_answered_not_dropped(local):
    with socket.create_connection(("127.0.0.1", local.port), timeout=5) as connection:
        connection.sendall(b"POST /api/v1/jobs/createTask HTTP/1.0\r\nContent-Length: lots\r\n\r\n")
        assert connection.recv(1024).startswith(b"HTTP/1.0 400")
