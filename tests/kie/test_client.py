"""KieClient against the KIE simulator over real HTTP: every quirk of docs/reference/kie-api.md."""

import io
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from PIL import Image

from generation.kie import USER_AGENT, KieClient, KieError, kie_client

INPUT = {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "num_images": "2"}


def wait_finished(client, task_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.record_info(task_id=task_id)
        if record.finished:
            return record
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_task_runs_to_success_with_parsed_record(client, kie_sandbox):
    task_id = client.create_task(model="google/imagen4-fast", input=INPUT, callback_url=None)
    record = wait_finished(client, task_id)
    assert record.succeeded and record.task_id == task_id
    assert len(record.result_urls) == 2
    assert record.credits_consumed == Decimal(8)
    assert record.fail_code == "" and record.fail_msg == ""
    assert record.created_at <= record.completed_at
    # The simulator double-encodes param.input like newer KIE; the client decodes it.
    assert record.raw["param"]["input"] == INPUT


def test_old_response_shape_is_understood(client, kie_sandbox):
    kie_sandbox.style = "old"
    task_id = client.create_task(model="google/imagen4-fast", input=INPUT, callback_url=None)
    record = wait_finished(client, task_id)
    assert "response" not in record.raw and "consumeCredits" in record.raw
    assert record.succeeded and len(record.result_urls) == 2
    assert record.credits_consumed == Decimal(8)


def test_running_task_reads_as_unfinished(client, kie_sandbox):
    kie_sandbox.set_latency(5)
    task_id = client.create_task(model="google/imagen4-fast", input=INPUT, callback_url=None)
    record = client.record_info(task_id=task_id)
    assert record.state in ("waiting", "queuing", "generating") and not record.finished
    assert record.result_urls == [] and record.completed_at is None


def test_failed_task_carries_fail_code_and_no_credits(client, kie_sandbox):
    kie_sandbox.fail_next(state="fail", fail_code="400", fail_msg="flagged by the content filter")
    record = wait_finished(client, client.create_task(model="google/imagen4-fast", input=INPUT))
    assert record.failed
    assert (record.fail_code, record.fail_msg) == ("400", "flagged by the content filter")
    assert record.credits_consumed == Decimal(0)


def test_error_inside_http_200_raises(client, kie_sandbox):
    kie_sandbox.fail_next(422, "aspect_ratio invalid")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == 422 and caught.value.message == "aspect_ratio invalid"
    assert not caught.value.retryable and not caught.value.alert


def test_error_as_http_status_raises(client, kie_sandbox):
    kie_sandbox.http_errors = True
    kie_sandbox.fail_next(500, "Server Error - upstream")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == 500 and caught.value.retryable


def test_message_key_instead_of_msg(client, kie_sandbox):
    kie_sandbox.message_key = "message"
    kie_sandbox.fail_next(422, "prompt is required")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.message == "prompt is required"


def test_unknown_task_is_404_with_null_data(client, kie_sandbox):
    with pytest.raises(KieError) as caught:
        client.record_info(task_id="no-such-task")
    assert caught.value.code == 404 and not caught.value.retryable


def test_server_error_with_null_data_is_retryable(client, kie_sandbox):
    kie_sandbox.fail_next(500, endpoint="recordInfo")
    with pytest.raises(KieError) as caught:
        client.record_info(task_id="anything")
    assert caught.value.code == 500 and caught.value.retryable


@pytest.mark.parametrize(("status", "code"), [(200, None), (502, 502), (503, 503)])
def test_cloudflare_html_is_retryable(client, kie_sandbox, status, code):
    kie_sandbox.fail_next(body=b"<!DOCTYPE html><title>Just a moment...</title>", http_status=status)
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == code and caught.value.retryable


def test_read_timeout_is_retryable(kie_sandbox):
    client = KieClient(
        api_base=kie_sandbox.base_url, upload_base=kie_sandbox.base_url, api_key="k", timeout=(1, 0.3)
    )
    kie_sandbox.fail_next(endpoint="recordInfo", delay=1.0)
    with pytest.raises(KieError) as caught:
        client.record_info(task_id="slow")
    assert caught.value.code is None and caught.value.retryable and not caught.value.alert


def test_connection_refused_is_retryable():
    client = KieClient(api_base="http://127.0.0.1:9", upload_base="http://127.0.0.1:9", api_key="k")
    with pytest.raises(KieError) as caught:
        client.account_credit()
    assert caught.value.code is None and caught.value.retryable


def test_bad_key_alerts(kie_sandbox):
    kie_sandbox.api_key = "the-right-key"
    client = KieClient(api_base=kie_sandbox.base_url, upload_base=kie_sandbox.base_url, api_key="wrong")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == 401 and caught.value.alert and not caught.value.retryable


def test_kie_account_out_of_credits_alerts(client, kie_sandbox):
    kie_sandbox.credits = Decimal(3)
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == 402 and caught.value.alert and not caught.value.retryable


def test_forced_402_alerts(client, kie_sandbox):
    kie_sandbox.fail_next(402, "Credits insufficient")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.alert


def test_validation_error_is_final(client, kie_sandbox):
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input={**INPUT, "num_images": "5"})
    assert caught.value.code == 422 and not caught.value.retryable and not caught.value.alert


def test_rate_limit_is_retryable(client, kie_sandbox):
    kie_sandbox.fail_next(429, "Rate limit exceeded")
    with pytest.raises(KieError) as caught:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert caught.value.code == 429 and caught.value.retryable


def test_account_credit_is_decimal(client, kie_sandbox):
    kie_sandbox.credits = Decimal("1234.5")
    assert client.account_credit() == Decimal("1234.5")


def test_account_credit_error(client, kie_sandbox):
    kie_sandbox.fail_next(401, "Unauthorized", endpoint="credit")
    with pytest.raises(KieError) as caught:
        client.account_credit()
    assert caught.value.alert


def test_api_calls_carry_user_agent_bearer_and_content_type(client, kie_sandbox):
    # given: one call to every endpoint
    task_id = client.create_task(model="google/imagen4-fast", input=INPUT)
    client.record_info(task_id=task_id)
    client.account_credit()
    client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    client.upload_base64(content=png_bytes(), filename="x.png", content_type="image/png")
    # then: KIE saw our agent (Cloudflare blocks Python's), the key, and a content type on each
    seen = list(kie_sandbox.received)
    assert len(seen) == 5
    for _method, path, headers in seen:
        assert headers["user-agent"] == USER_AGENT, path
        assert headers["authorization"] == "Bearer sandbox", path
        expected = "multipart/form-data" if path.endswith("stream-upload") else "application/json"
        assert headers["content-type"].startswith(expected), path


def test_kie_client_comes_from_settings(kie_sandbox):
    client = kie_client()
    assert client.api_base == kie_sandbox.base_url and client.upload_base == kie_sandbox.base_url
    assert client.account_credit() > 0


# --- upload and download -----------------------------------------------------------------------


def png_bytes(size=(8, 8)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_stream_upload_round_trips(client):
    content = png_bytes()
    url = client.upload_file(content=content, filename="me.png", content_type="image/png")
    assert url.endswith(".png?" + url.split("?", 1)[1])
    assert client.download(url=url, max_bytes=1_000_000) == (content, "image/png")


def test_uploads_get_unique_names(client):
    first = client.upload_file(content=png_bytes(), filename="same.png", content_type="image/png")
    second = client.upload_file(content=png_bytes(), filename="same.png", content_type="image/png")
    assert first.split("?")[0].rsplit("/", 1)[1] != second.split("?")[0].rsplit("/", 1)[1]


def test_base64_upload_round_trips(client):
    content = png_bytes()
    url = client.upload_base64(content=content, filename="b.png", content_type="image/png")
    assert client.download(url=url, max_bytes=1_000_000) == (content, "image/png")


def test_upload_error_raises(client, kie_sandbox):
    kie_sandbox.fail_next(500, endpoint="upload")
    with pytest.raises(KieError) as caught:
        client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    assert caught.value.retryable


def test_result_images_download_as_png_of_the_aspect_ratio(client):
    record = wait_finished(client, client.create_task(model="google/imagen4-fast", input=INPUT))
    content, content_type = client.download(url=record.result_urls[0], max_bytes=5_000_000)
    assert content_type == "image/png"
    assert Image.open(io.BytesIO(content)).size == (1024, 576)  # 16:9 at 1K


def test_download_over_size_cap_is_refused(client):
    record = wait_finished(client, client.create_task(model="google/imagen4-fast", input=INPUT))
    with pytest.raises(KieError) as caught:
        client.download(url=record.result_urls[0], max_bytes=100)
    assert not caught.value.retryable


def test_download_of_non_image_type_is_refused(client):
    url = client.upload_file(content=b"hello", filename="a.txt", content_type="text/plain")
    with pytest.raises(KieError) as caught:
        client.download(url=url, max_bytes=1_000_000)
    assert not caught.value.retryable and "Not an image" in caught.value.message


def test_download_with_image_type_but_other_bytes_is_refused(client):
    url = client.upload_file(content=b"<svg></svg>", filename="a.png", content_type="image/png")
    with pytest.raises(KieError) as caught:
        client.download(url=url, max_bytes=1_000_000)
    assert not caught.value.retryable


def test_expired_link_is_gone_and_final(client, kie_sandbox):
    url = client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    path = url.split(kie_sandbox.base_url, 1)[1].split("?")[0]
    expired = kie_sandbox.file_url(path, expires=time.time() - 1)
    with pytest.raises(KieError) as caught:
        client.download(url=expired, max_bytes=1_000_000)
    assert caught.value.code == 410 and not caught.value.retryable


def test_tampered_link_is_not_found(client):
    url = client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    with pytest.raises(KieError) as caught:
        client.download(url=url.replace("expires=", "expires=9"), max_bytes=1_000_000)
    assert caught.value.code == 404


def test_download_never_sends_our_key(client, kie_sandbox):
    url = client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    client.download(url=url, max_bytes=1_000_000)
    _method, path, headers = kie_sandbox.received[-1]
    assert path.startswith("/uploads/") and "authorization" not in headers
    assert headers["user-agent"] == USER_AGENT


def test_download_refuses_non_web_urls(client):
    with pytest.raises(KieError) as caught:
        client.download(url="file:///etc/passwd", max_bytes=10)
    assert not caught.value.retryable


def test_success_code_with_null_data_is_a_retryable_error(client, kie_sandbox):
    null_data = b'{"code":200,"msg":"success","data":null}'
    kie_sandbox.fail_next(endpoint="recordInfo", body=null_data, content_type="application/json")
    kie_sandbox.fail_next(endpoint="createTask", body=null_data, content_type="application/json")
    with pytest.raises(KieError) as on_record:
        client.record_info(task_id="t")
    with pytest.raises(KieError) as on_create:
        client.create_task(model="google/imagen4-fast", input=INPUT)
    assert on_record.value.retryable and on_create.value.retryable


def test_upload_reply_with_quickstart_field_name_is_understood(client, kie_sandbox):
    # KIE's quickstart page documents `fileUrl` where the live API sends `downloadUrl`.
    reply = b'{"success":true,"code":200,"msg":"ok","data":{"fileUrl":"https://tempfile.example/x.png"}}'
    kie_sandbox.fail_next(endpoint="upload", body=reply, content_type="application/json")
    url = client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")
    assert url == "https://tempfile.example/x.png"


def test_upload_reply_without_a_url_raises(client, kie_sandbox):
    reply = b'{"success":true,"code":200,"msg":"ok","data":{"fileName":"x.png"}}'
    kie_sandbox.fail_next(endpoint="upload", body=reply, content_type="application/json")
    with pytest.raises(KieError, match="downloadUrl"):
        client.upload_file(content=png_bytes(), filename="x.png", content_type="image/png")


def test_record_of_another_task_is_refused(client, kie_sandbox):
    task_id = client.create_task(model="google/imagen4-fast", input=INPUT)
    other = b'{"code":200,"msg":"success","data":{"taskId":"someone-else","state":"success"}}'
    kie_sandbox.fail_next(endpoint="recordInfo", body=other, content_type="application/json")
    with pytest.raises(KieError) as caught:
        client.record_info(task_id=task_id)
    assert caught.value.retryable and "someone-else" in caught.value.message


def test_explicit_user_agent_passes_where_pythons_default_is_blocked(client, kie_sandbox):
    # The simulator answers Python-urllib like Cloudflare in front of KIE (docs/reference/kie-api.md §8.9).
    request = urllib.request.Request(kie_sandbox.base_url + "/api/v1/chat/credit")
    request.add_header("Authorization", "Bearer sandbox")
    with pytest.raises(urllib.error.HTTPError) as blocked:
        urllib.request.urlopen(request, timeout=5)
    assert blocked.value.code == 403 and b"1010" in blocked.value.read()
    assert client.account_credit() > 0
