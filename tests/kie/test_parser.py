"""The envelope and task-record parsers, on raw bodies copied from docs/reference/kie-api.md."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from generation.kie import KieError, callback_task_id, envelope_parse, task_record_parse

# §2.2 example success (old shape + the three newer fields).
DOC_SUCCESS = (
    '{"code":200,"msg":"success","data":{'
    '"taskId":"task_12345678","model":"grok-imagine/text-to-image","state":"success",'
    '"param":"{\\"model\\":\\"grok-imagine/text-to-image\\",\\"input\\":{\\"prompt\\":\\"a cat\\"}}",'
    '"resultJson":"{\\"resultUrls\\":[\\"https://example.com/generated-content.jpg\\"]}",'
    '"failCode":"","failMsg":"","costTime":15000,'
    '"completeTime":1698765432000,"createTime":1698765400000,"updateTime":1698765432000,'
    '"successFlag":1,"creditsConsumed":3.0,"response":{"resultUrls":["https://example.com/r.jpg"]}}}'
)
# §3.1 newer callback: double-encoded input, failCode null, creditsConsumed.
NEW_CALLBACK = {
    "code": 200,
    "msg": "Playground task completed successfully.",
    "data": {
        "taskId": "bd8f0000000000000000000000000001",
        "model": "wan/3-0",
        "state": "success",
        "param": json.dumps({"model": "wan/3-0", "input": json.dumps({"prompt": "waves", "n": "2"})}),
        "resultJson": '{"resultUrls":["https://tempfile.aiquickdraw.com/a.png"]}',
        "failCode": None,
        "failMsg": None,
        "costTime": 89,
        "completeTime": 1787567409000,
        "createTime": 1787567320000,
        "updateTime": 1787567409000,
        "creditsConsumed": 61,
    },
}
# Older callbacks: consumeCredits + remainedCredits.
OLD_FAIL = {
    "code": 501,
    "msg": "Playground task failed.",
    "data": {
        "taskId": "e989621f54392584b05867f87b160672",
        "state": "fail",
        "failCode": "400",
        "failMsg": "Your prompt was flagged",
        "consumeCredits": 0,
        "remainedCredits": 1200,
        "resultJson": None,
    },
}


def test_doc_success_record_parses_every_field():
    record = task_record_parse(envelope_parse(status=200, body=DOC_SUCCESS))
    assert record.task_id == "task_12345678"
    assert record.succeeded and record.finished and not record.failed
    # `response` (already parsed) wins over resultJson when present.
    assert record.result_urls == ["https://example.com/r.jpg"]
    assert record.fail_code == "" and record.fail_msg == ""
    assert record.credits_consumed == Decimal("3.0")
    assert record.created_at == datetime(2023, 10, 31, 15, 16, 40, tzinfo=UTC)
    assert record.completed_at == datetime(2023, 10, 31, 15, 17, 12, tzinfo=UTC)
    assert record.raw["param"]["input"] == {"prompt": "a cat"}
    assert record.raw["resultJson"] == {"resultUrls": ["https://example.com/generated-content.jpg"]}


def test_result_json_string_is_used_without_response():
    record = task_record_parse(NEW_CALLBACK["data"])
    assert record.result_urls == ["https://tempfile.aiquickdraw.com/a.png"]


def test_double_encoded_param_input_is_parsed_twice():
    record = task_record_parse(NEW_CALLBACK["data"])
    assert record.raw["param"]["input"] == {"prompt": "waves", "n": "2"}


def test_null_fail_code_reads_as_empty():
    record = task_record_parse(NEW_CALLBACK["data"])
    assert record.fail_code == "" and record.fail_msg == ""
    assert record.credits_consumed == Decimal(61)


def test_old_credit_spelling_and_failure():
    record = task_record_parse(OLD_FAIL["data"])
    assert record.failed and record.finished
    assert record.fail_code == "400" and record.fail_msg == "Your prompt was flagged"
    assert record.credits_consumed == Decimal(0)
    assert record.result_urls == []


@pytest.mark.parametrize("state", ["waiting", "queuing", "generating"])
def test_running_states_are_not_finished(state):
    record = task_record_parse({"taskId": "t", "state": state})
    assert record.state == state and not record.finished


def test_unknown_state_reads_as_running():
    record = task_record_parse({"taskId": "t", "state": "postprocessing"})
    assert not record.finished and not record.succeeded and not record.failed


def test_missing_state_falls_back_to_success_flag():
    assert task_record_parse({"taskId": "t", "successFlag": 1}).succeeded
    assert task_record_parse({"taskId": "t", "successFlag": 3}).failed


def test_task_id_snake_case_is_read():
    assert task_record_parse({"task_id": "abc", "state": "success"}).task_id == "abc"


def test_fractional_credits_stay_exact():
    assert task_record_parse({"taskId": "t", "creditsConsumed": 0.5}).credits_consumed == Decimal("0.5")


def test_record_without_data_is_an_error():
    with pytest.raises(KieError):
        task_record_parse(None)


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable", "alert"),
    [
        (200, '{"code":402,"msg":"Credits insufficient"}', 402, False, True),
        (200, '{"code":401,"msg":"Unauthorized"}', 401, False, True),
        (200, '{"code":433,"msg":"Sub-key usage exceeds limit"}', 433, False, True),
        (200, '{"code":422,"msg":"aspect_ratio invalid"}', 422, False, False),
        (200, '{"code":429,"msg":"Rate limit exceeded"}', 429, True, False),
        (200, '{"code":455,"msg":"Service unavailable"}', 455, True, False),
        (200, '{"code":500,"msg":"Server Error - x","data":null}', 500, True, False),
        (200, '{"code":501,"msg":"Generation failed"}', 501, False, False),
        (200, '{"code":505,"msg":"Feature disabled"}', 505, False, False),
        (200, '{"code":408,"msg":"Upstream provider has no result"}', 408, True, False),
        (200, '{"code":400,"msg":"taskId parameter is required"}', 400, False, False),
        (405, '{"code":405,"msg":"Method not allowed"}', 405, False, False),
        (200, '{"code":404,"msg":"Task not found"}', 404, False, False),
        (503, '{"code":503,"msg":"busy"}', 503, True, False),
        (402, '{"msg":"Credits insufficient"}', 402, False, True),
        (401, '{"code":200,"msg":"?"}', 401, False, True),
        (502, "<html>Bad gateway</html>", 502, True, False),
        (403, "error code: 1010", 403, False, False),
        (200, "<!DOCTYPE html><title>Just a moment...</title>", None, True, False),
        (200, "", None, True, False),
        (200, '["not", "an", "object"]', None, True, False),
    ],
)
def test_envelope_errors_are_classified(status, body, code, retryable, alert):
    with pytest.raises(KieError) as caught:
        envelope_parse(status=status, body=body)
    assert (caught.value.code, caught.value.retryable, caught.value.alert) == (code, retryable, alert)


def test_message_key_is_read_as_msg_or_message():
    with pytest.raises(KieError) as with_msg:
        envelope_parse(status=200, body='{"code":422,"msg":"prompt too long"}')
    with pytest.raises(KieError) as with_message:
        envelope_parse(status=200, body='{"code":422,"message":"prompt too long"}')
    assert with_msg.value.message == with_message.value.message == "prompt too long"


def test_success_with_null_data_returns_none():
    assert envelope_parse(status=200, body='{"code":200,"msg":"success","data":null}') is None


def test_string_code_is_understood():
    assert envelope_parse(status=200, body='{"code":"200","msg":"success","data":5}') == 5


def test_upload_reply_with_success_flag_only():
    assert envelope_parse(status=200, body='{"success":true,"data":{"downloadUrl":"u"}}') == {
        "downloadUrl": "u"
    }


def test_transport_error_defaults_to_retryable():
    error = KieError("connection reset")
    assert error.code is None and error.retryable and not error.alert


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (NEW_CALLBACK, "bd8f0000000000000000000000000001"),
        ({"code": 200, "data": {"task_id": "snake", "callbackType": "complete"}}, "snake"),
        ({"code": 200, "taskId": "top", "data": {"callbackType": "complete"}}, "top"),
        ({"code": 200, "data": None}, None),
        ({"code": 200, "data": {"taskId": ""}}, None),
        ("not a dict", None),
    ],
)
def test_callback_task_id(body, expected):
    assert callback_task_id(body) == expected
