"""Crafted bodies and query strings: each is a 400 (or 415) in the API's error shape, never a 500."""

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artio.api_parsers import MAX_DEPTH, ApiJSONParser
from artio.errors import ArtioError
from artio.models import IdempotencyRecord
from billing.models import Account
from billing.services import balance_adjust
from generation.models import Generation

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"
DEEP = "[" * 50_000 + "]" * 50_000
BODY_PATHS = ["/api/v1/generations", "/api/v1/quotes"]


def post_raw(api, path, body, content_type="application/json", **headers):
    return api.generic("POST", path, body, content_type=content_type, **headers)


def create(api, body):
    return api.post("/api/v1/generations", body, format="json")


def error_of(response, status=400, code="invalid_input"):
    """Return the error object of `response` once it is known to have the API's error shape."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def assert_nothing_charged(alice):
    assert not Generation.objects.exists()
    assert Account.objects.get(user=alice).balance == 1000


@pytest.fixture
def no_error_logs(caplog):
    """Fail the test if anything is logged at ERROR (a 500, or Django's security log with a traceback)."""
    caplog.set_level(logging.WARNING)
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- 1. Nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        f'{{"model": "{FAST}", "input": {DEEP}}}',
        f'{{"model": "{FAST}", "input": {{"prompt": {DEEP}}}}}',
    ],
    ids=["body", "input", "field"],
)
def test_a_body_nested_50000_deep_is_a_400_not_a_recursion_error(alice, alice_api, path, body, no_error_logs):
    error = error_of(post_raw(alice_api, path, body))

    assert "32 levels" in error["message"]
    assert list(error["details"]) == ["non_field_errors"]
    assert_nothing_charged(alice)


def test_an_unclosed_deep_body_is_a_400(alice_api, no_error_logs):
    error_of(post_raw(alice_api, "/api/v1/quotes", "[" * 50_000))
    error_of(post_raw(alice_api, "/api/v1/quotes", '{"a": ' * 50_000))


def test_brackets_inside_text_do_not_count_as_nesting(alice_api):
    prompt = '[{"quoted \\" [[[' * 300 + "\\\\"

    response = alice_api.post("/api/v1/quotes", {"model": FAST, "input": {"prompt": prompt}}, format="json")

    assert response.status_code == 200, response.content[:300]


def _parse(text):
    return ApiJSONParser().parse(_Stream(text.encode()), "application/json", {})


class _Stream:
    def __init__(self, raw):
        self.raw = raw

    def read(self):
        return self.raw


def _depth(value):
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_the_parser_takes_max_depth_levels_and_refuses_one_more():
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH

    assert _depth(_parse(deepest)) == MAX_DEPTH
    with pytest.raises(ArtioError, match="32 levels"):
        _parse("[" + deepest + "]")


# Text that is mostly what could confuse a scan for brackets outside strings.
_TRICKY_TEXT = st.text(alphabet=st.sampled_from('"\\[]{}/ab\n\u00e9\U0001f98a'), max_size=8)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TRICKY_TEXT, children, max_size=3),
    max_leaves=60,
)


@given(value=_JSON_VALUES, ensure_ascii=st.booleans())
def test_the_parser_agrees_with_json_loads_on_any_value_within_the_depth(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)

    if _depth(value) <= MAX_DEPTH:
        assert _parse(text) == value
    else:
        with pytest.raises(ArtioError, match="levels deep"):
            _parse(text)


# --- 2. NUL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_nul_in_text_is_a_400_naming_the_field(alice, alice_api, path, field, no_error_logs):
    body = {"model": FAST, "input": {"prompt": "a fox", field: "a\u0000b"}}

    error = error_of(alice_api.post(path, body, format="json"))

    assert "NUL" in error["message"]
    assert list(error["details"]) == [f"input.{field}"]
    assert_nothing_charged(alice)


def test_nul_in_a_key_or_a_list_item_is_a_400(alice, alice_api, no_error_logs):
    in_key = error_of(create(alice_api, {"model": FAST, "input": {"a\u0000": 1}}))
    in_list = error_of(create(alice_api, {"model": FAST, "x": ["ok", "\u0000"]}))

    assert list(in_key["details"]) == ["input"] and "key" in in_key["message"]
    assert list(in_list["details"]) == ["x.1"]
    assert_nothing_charged(alice)


# --- 3. Unpaired surrogates ---------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_PATHS)
def test_an_unpaired_surrogate_with_an_idempotency_key_is_a_400(alice, alice_api, path, no_error_logs):
    body = f'{{"model": "{FAST}", "input": {{"prompt": "a fox \\ud800"}}}}'

    error = error_of(post_raw(alice_api, path, body, HTTP_IDEMPOTENCY_KEY="key-1"))

    assert "surrogate" in error["message"]
    assert list(error["details"]) == ["input.prompt"]
    assert_nothing_charged(alice)
    assert not IdempotencyRecord.objects.exists()


def test_an_escaped_surrogate_pair_is_an_ordinary_character(alice_api, enqueued):
    # What json.dumps writes by default (ensure_ascii): the fox emoji as "\ud83e\udd8a".
    body = json.dumps({"model": FAST, "input": {"prompt": "a \U0001f98a"}})

    response = post_raw(alice_api, "/api/v1/generations", body, HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 202, response.content[:300]
    assert response.json()["input"]["prompt"] == "a \U0001f98a"


def test_a_surrogate_reached_through_an_odd_charset_is_a_400(alice_api, no_error_logs):
    body = b'{"model": "google/imagen4-fast", "input": {"prompt": "\\ud800"}}'

    error_of(post_raw(alice_api, "/api/v1/quotes", body, "application/json; charset=raw_unicode_escape"))


# --- 4. Size --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_body_over_the_upload_limit_is_a_json_400_without_an_error_log(
    alice, alice_api, path, settings, no_error_logs
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"model": FAST, "input": {"prompt": "x" * 1000}})

    error = error_of(post_raw(alice_api, path, body))

    assert "1000 bytes" in error["message"]
    assert_nothing_charged(alice)


def test_a_body_just_under_the_upload_limit_is_read(alice_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"model": FAST, "input": {"prompt": "x" * 900}})

    assert post_raw(alice_api, "/api/v1/quotes", body).status_code == 200


# --- 5. ?limit= -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/generations", "/api/v1/ledger"])
@pytest.mark.parametrize("limit", ["101", "0", "-1", "abc", "", "1.5", " 5", "\u0665", "9" * 5000])
def test_a_limit_outside_1_to_100_is_a_400_naming_limit(alice_api, path, limit, no_error_logs):
    error = error_of(alice_api.get(path, {"limit": limit}))

    assert list(error["details"]) == ["limit"]


def test_limits_1_and_100_are_taken(alice, alice_api):
    # The fixture's grant is one ledger row; a second makes a two-page list at limit=1.
    balance_adjust(account_id=Account.objects.get(user=alice).pk, amount=1, reason="second row")

    one = alice_api.get("/api/v1/ledger", {"limit": "1"})
    hundred = alice_api.get("/api/v1/ledger", {"limit": "100"})

    assert one.status_code == hundred.status_code == 200
    assert len(one.json()["results"]) == 1 and one.json()["next"]
    assert len(hundred.json()["results"]) == 2
    assert alice_api.get(one.json()["next"]).status_code == 200


# --- 6. Other malformed bodies ------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize(
    "body",
    ["[1]", '"a fox"', "null", "42", "{", '{"model": NaN}', "{}}", b'{"model": "\xff"}', b"\xef\xbb\xbf{}"],
    ids=["list", "string", "null", "number", "truncated", "nan", "extra", "bad-utf8", "bom"],
)
def test_a_body_that_is_not_a_json_object_is_a_400(alice, alice_api, path, body, no_error_logs):
    error_of(post_raw(alice_api, path, body))

    assert_nothing_charged(alice)


@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_body_that_is_not_json_is_a_415_in_the_error_shape(alice_api, path):
    response = post_raw(alice_api, path, "model=x", "application/x-www-form-urlencoded")

    error_of(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/generations/gen_%00",
        "/api/v1/models/%00",
        "/api/v1/models/google/%00x",
        "/billing/receipts/top_%00/",
    ],
)
def test_a_nul_in_a_path_is_a_404_not_a_database_error(alice, alice_api, client, path):
    client.force_login(alice)

    response = (alice_api if path.startswith("/api/") else client).get(path)

    assert response.status_code == 404
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "not_found"
