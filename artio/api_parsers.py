"""The partner API's JSON parser: DRF's, made safe against bodies built to crash the app.

Each of these used to answer an HTML 500; each is now a 400 `invalid_input` (docs/API.md):

- nesting: `json.loads` recurses once per level, so 50,000 brackets raised RecursionError. The
  depth is measured first, on the raw text, without recursion and in linear time;
- NUL (U+0000) in text: PostgreSQL cannot store it in a text or jsonb column;
- unpaired surrogates (`"\\ud800"`): not encodable as UTF-8, so hashing the body for the
  Idempotency-Key, storing it and rendering it back all fail.

It stays a JSONParser subclass on purpose: DRF then reads the body through `request.body`, which is
where Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE (artio.api_errors answers that one).
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from .errors import ArtioError

# A model's input is a few levels deep (the body, `input`, a list of image URLs); 32 is plenty.
MAX_DEPTH = 32

_ONE_KIND_OF_BRACKET = bytes.maketrans(b"{}", b"[]")
_NOT_A_BRACKET = bytes(set(range(256)) - set(b"[]{}"))


def _check_nesting(text):
    """Raise unless the brackets outside strings balance and nest at most MAX_DEPTH deep.

    Linear, and every step runs in C (str.replace, split, translate): fine on a body of many MB.
    """
    # With escaped backslashes and then escaped quotes gone, every quote left opens or closes a
    # string, so the even pieces between quotes are the text outside strings. (Valid JSON has no
    # backslash outside a string; in invalid JSON the guess may go wrong, but only after a point
    # where json.loads stops with an error, so it never recurses past what was counted here.)
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside_strings = "".join(unescaped.split('"')[::2])
    brackets = outside_strings.encode("ascii", "ignore").translate(_ONE_KIND_OF_BRACKET, _NOT_A_BRACKET)
    # Each pass deletes the innermost pairs, so the number of passes that empties it is the depth.
    for _ in range(MAX_DEPTH):
        if not brackets:
            return
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            raise ParseError("JSON parse error - the brackets do not balance.")
        brackets = shorter
    if brackets:
        raise ArtioError(
            f"The body is nested more than {MAX_DEPTH} levels deep.",
            details={"non_field_errors": [f"Nest objects and lists at most {MAX_DEPTH} levels deep."]},
        )


def _refuse_bad_text(text, *, path, what):
    """Raise when `text` holds NUL or cannot be encoded as UTF-8, naming the field at `path`."""
    if "\x00" in text:
        sentence = f"{what} must not contain the NUL character (U+0000)."
    elif not text.isascii() and _has_unpaired_surrogate(text):
        sentence = f"{what} must be valid Unicode (it has an unpaired surrogate such as \\ud800)."
    else:
        return
    # The offending text itself is never echoed back: the response could not be encoded either.
    details = {path or "non_field_errors": [sentence]}
    raise ArtioError(sentence, details=details)


def _has_unpaired_surrogate(text):
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _check_text(value, path=""):
    """Raise at the first string, value or key, under `value` that is NUL or not UTF-8.

    Recursion is safe here: _check_nesting has bounded the depth to MAX_DEPTH.
    """
    if isinstance(value, str):
        _refuse_bad_text(value, path=path, what="Text")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_bad_text(key, path=path, what="A key")
            _check_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}.{index}" if path else str(index))


class ApiJSONParser(JSONParser):
    """Parse a JSON body as DRF does, refusing deep nesting, NUL and unpaired surrogates."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not valid {encoding}: {exc.reason} at byte {exc.start}.") from None
        _check_nesting(text)
        parse_constant = json.strict_constant if self.strict else None  # refuses NaN and Infinity
        try:
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _check_text(data)
        return data
