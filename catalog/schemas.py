"""Model input schemas: validate what users send, and turn it into what KIE expects.

A model's `input_schema` is JSON Schema (draft 2020-12) with honest types: `num_images` is an
integer here. A property marked `"x-kie-type": "string"` is sent to KIE as a string, because KIE
wants `num_images: "2"`. Defaults in the schema are filled in before sending, since KIE does not
always apply its documented defaults (docs/reference/kie-api.md §8.7).

What users send passes two rules beyond the schema (`validate_input`): every `"format": "uri"`
value is an https link to a public host, since KIE fetches it from inside its network; and KIE's
content filter stays on unless staff may switch it off for that model (`content_filter_optional_for`).
"""

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

KIE_TYPE = "x-kie-type"
# KIE's content filters: `true` turns them on (docs/kie-api.md §7.14, §7.20).
CONTENT_FILTER_FIELDS = ("nsfw_checker", "enable_safety_checker")
URL_MAX_LENGTH = 2000
# Names that only mean something inside a network (RFC 6761, RFC 6762, RFC 8375 and common habits).
PRIVATE_NAME_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "lan")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
# A last label a resolver may read as a number (2130706433, 0x7f000001, 127.1): an IPv4 literal.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
URL_REFUSED = "Must be an https:// link to a public image."
FILTER_ALWAYS_ON = "The content filter is always on; it cannot be turned off."


class InputInvalid(Exception):
    """The input fails the model's schema; `errors` maps each field to its messages."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in errors.items()))


def schema_check(schema):
    """Raise SchemaError (with a readable message) unless `schema` is a usable input schema."""
    if not isinstance(schema, dict):
        raise SchemaError("The input schema must be a JSON object.")
    Draft202012Validator.check_schema(schema)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise SchemaError('The input schema must have "type": "object" and a "properties" object.')
    missing = [name for name in schema.get("required", []) if name not in schema["properties"]]
    if missing:
        raise SchemaError(f"Required fields without a property: {', '.join(missing)}.")


# What KIE's Market models take as input: flat objects of snake_case fields (docs/reference/kie-api.md §7).
KIE_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
KIE_FIELD_TYPES = ("string", "integer", "number", "boolean", "array")
KIE_ITEM_TYPES = ("string", "integer", "number")


def _property_problems(name, prop):
    """Return what KIE would not accept in one input property (a list of sentences)."""
    if not KIE_FIELD_NAME.fullmatch(name):
        return [f"{name!r}: KIE's field names are lower-case letters, digits and underscores."]
    if not isinstance(prop, dict):
        return [f"{name!r}: must be an object describing the field."]
    problems = []
    kind = prop.get("type")
    if kind not in KIE_FIELD_TYPES:
        problems.append(
            f'{name!r}: "type" must be one of {", ".join(KIE_FIELD_TYPES)} (KIE takes flat inputs).'
        )
    if kind == "array" and (prop.get("items") or {}).get("type") not in KIE_ITEM_TYPES:
        problems.append(f'{name!r}: an array needs "items" of type string, integer or number.')
    if not prop.get("title"):
        problems.append(f'{name!r}: needs a "title" (the web form\'s label).')
    marker = prop.get(KIE_TYPE)
    if marker is not None and (marker != "string" or kind not in ("integer", "number", "boolean")):
        problems.append(f'{name!r}: "{KIE_TYPE}" may only be "string", on an integer, number or boolean.')
    if "default" in prop and not problems:
        errors = list(Draft202012Validator(prop).iter_errors(prop["default"]))
        if errors:
            problems.append(f"{name!r}: the default {prop['default']!r} does not fit: {errors[0].message}.")
    return problems


def kie_schema_problems(schema):
    """Return what KIE would refuse in a (valid JSON Schema) input schema: [] when it is fit to send."""
    problems = []
    if schema.get("additionalProperties") is not False:
        problems.append('Set "additionalProperties": false, so only the listed fields ever reach KIE.')
    for name, prop in schema.get("properties", {}).items():
        problems += _property_problems(name, prop)
    return problems


class UrlRefused(ValueError):
    """The link may not go to KIE; the message is fit for the person who typed it."""


def _ip_is_public(ip):
    embedded = (ip.ipv4_mapped or ip.sixtofour) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded and not _ip_is_public(embedded):
        # An IPv4 address wrapped in IPv6 (::ffff:a.b.c.d, 6to4) reaches that IPv4 address.
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _host_check(netloc, host):
    """Raise UrlRefused unless `host` (lower case, as urlsplit gives it) names a public host."""
    if netloc.startswith("[") or ":" in host:
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused(URL_REFUSED) from None  # a zone id (fe80::1%eth0) or garbage
        if not _ip_is_public(ip):
            raise UrlRefused(f"{URL_REFUSED} This address is private, local or reserved.")
        return
    try:
        # Checked in its ASCII form, which is what a resolver sees: "ｌｏｃａｌｈｏｓｔ" and
        # "127。0。0。1" are "localhost" and "127.0.0.1" there.
        name = host.removesuffix(".").encode("idna").decode("ascii").removesuffix(".")
    except UnicodeError:
        raise UrlRefused(URL_REFUSED) from None
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Only the dotted-quad spelling is taken; other spellings of numbers are refused outright,
        # since resolvers disagree on them (2130706433 and 0177.0.0.1 are both 127.0.0.1 to curl).
        try:
            ip = ipaddress.IPv4Address(name)
        except ValueError:
            raise UrlRefused(URL_REFUSED) from None
        if not _ip_is_public(ip):
            raise UrlRefused(f"{URL_REFUSED} This address is private, local or reserved.")
        return
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused(URL_REFUSED)
    if len(labels) < 2 or any(
        name == suffix or name.endswith("." + suffix) for suffix in PRIVATE_NAME_SUFFIXES
    ):
        raise UrlRefused(f"{URL_REFUSED} This host name only works inside a private network.")


def _origin(parts):
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return (parts.scheme, parts.hostname, parts.port or default_port)


def _is_kie_upload_link(parts):
    """Return True for a link on KIE's upload host as configured (the sandbox's http://127.0.0.1:…).

    Web uploads go to KIE_UPLOAD_BASE and the link it answers goes into the input; in the sandbox
    that host is the simulator on loopback, and "Run again" re-validates stored inputs holding such
    links. With real KIE the host is public https, so this adds nothing there.
    """
    base = urlsplit(settings.KIE_UPLOAD_BASE)
    return "@" not in parts.netloc and bool(base.hostname) and _origin(parts) == _origin(base)


def public_url_check(url):
    """Return True when `url` is an https link to a public host; raise UrlRefused saying why not.

    The check is lexical on purpose: Artio never fetches these links (KIE does), so resolving the
    host here would be slow and flaky and would still not stop DNS rebinding, which is KIE's concern
    as the one that connects. What a name or an address says on its face is refused here: other
    schemes, user names, private/loopback/link-local/reserved/multicast addresses in any spelling,
    and names that only exist inside a network. Links on KIE's own upload host always pass.
    """
    if not isinstance(url, str):
        return True  # the schema's "type" reports it
    if len(url) > URL_MAX_LENGTH:
        raise UrlRefused(f"Must be a link of at most {URL_MAX_LENGTH} characters.")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F or char == "\\" for char in url):
        raise UrlRefused(URL_REFUSED)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not one
    except ValueError:
        raise UrlRefused(URL_REFUSED) from None
    if _is_kie_upload_link(parts):
        return True
    if parts.scheme != "https" or not parts.hostname:
        raise UrlRefused(URL_REFUSED)
    if "@" in parts.netloc:
        raise UrlRefused(f"{URL_REFUSED} It must not contain a user name or password.")
    _host_check(parts.netloc, parts.hostname)
    return True


# The draft's own format checks, with "uri" meaning "a link KIE may fetch for a user".
_USER_FORMATS = FormatChecker(Draft202012Validator.FORMAT_CHECKER.checkers)
_USER_FORMATS.checks("uri", raises=UrlRefused)(public_url_check)


def _message(error):
    if error.validator == "required":
        return "This field is required."
    if error.validator == "additionalProperties":
        return "Unknown field."
    if error.validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"{error.instance!r} is not one of the choices: {choices}."
    if error.validator == "maxLength":
        return f"At most {error.validator_value} characters (this has {len(error.instance)})."
    if error.validator == "minLength":
        return f"At least {error.validator_value} characters."
    if error.validator == "maxItems":
        return f"At most {error.validator_value} items (this has {len(error.instance)})."
    if error.validator == "minItems":
        return f"At least {error.validator_value} items."
    if error.validator in ("maximum", "minimum"):
        word = "most" if error.validator == "maximum" else "least"
        return f"Must be at {word} {error.validator_value}."
    if error.validator == "type":
        return f"Must be of type {error.validator_value}."
    if error.validator == "format" and error.validator_value == "uri":
        return str(error.cause) if isinstance(error.cause, UrlRefused) else "Must be a URL."
    return error.message


def _field(error):
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return missing or "input"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return extra[0] if extra else "input"
    return ".".join(str(part) for part in error.absolute_path) or "input"


def _schema_errors(schema, data, format_checker):
    errors = {}
    validator = Draft202012Validator(schema, format_checker=format_checker)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        errors.setdefault(_field(error), []).append(_message(error))
    return errors


def _with_defaults(schema, data):
    filled = dict(data)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled


def validate_against_schema(schema, data):
    """Return `data` with schema defaults filled in, or raise InputInvalid; the schema only.

    This is what KIE itself checks (the KIE simulator uses it). What users send goes through
    `validate_input`, which adds Artio's rules.
    """
    if not isinstance(data, dict):
        raise InputInvalid({"input": ["Must be a JSON object."]})
    errors = _schema_errors(schema, data, Draft202012Validator.FORMAT_CHECKER)
    if errors:
        raise InputInvalid(errors)
    return _with_defaults(schema, data)


def content_filter_optional_for(*, model, user):
    """Return True when `user` may turn KIE's content filter off on `model`: staff, where allowed."""
    return bool(model.content_filter_optional and getattr(user, "is_staff", False))


def validate_input(schema, data, *, content_filter_switchable=False):
    """Return a user's `data` with defaults filled in, or raise InputInvalid naming each field.

    Beyond the schema: links (`"format": "uri"`) must be https links to public hosts
    (`public_url_check`); and unless `content_filter_switchable` (`content_filter_optional_for`
    says when), KIE's content filters are refused when sent as anything but `true`, and forced on.
    Refusing rather than silently flipping tells an API partner their `false` was not honoured;
    forcing `true` into the result makes the stored input exactly what KIE is sent.
    """
    if not isinstance(data, dict):
        raise InputInvalid({"input": ["Must be a JSON object."]})
    errors = _schema_errors(schema, data, _USER_FORMATS)
    if not content_filter_switchable:
        for name in CONTENT_FILTER_FIELDS:
            if name in data and data[name] is not True and name not in errors:
                errors.setdefault(name, []).append(FILTER_ALWAYS_ON)
    if errors:
        raise InputInvalid(errors)
    filled = _with_defaults(schema, data)
    if not content_filter_switchable:
        for name in CONTENT_FILTER_FIELDS:
            if name in schema.get("properties", {}):
                filled[name] = True
    return filled


def kie_input(schema, data):
    """Return validated `data` converted to the types KIE wants (see `x-kie-type`)."""
    converted = {}
    for name, value in data.items():
        prop = schema.get("properties", {}).get(name, {})
        converted[name] = str(value) if prop.get(KIE_TYPE) == "string" else value
    return converted


def kie_schema(schema):
    """Return the schema as KIE itself declares it (string-typed where `x-kie-type` says so).

    The KIE simulator validates createTask bodies with this, so it refuses what KIE refuses.
    """
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        if prop.pop(KIE_TYPE, None) == "string":
            prop = {
                key: value for key, value in prop.items() if key not in ("minimum", "maximum", "type", "enum")
            }
            prop["type"] = "string"
            if "enum" in schema["properties"][name]:
                prop["enum"] = [str(v) for v in schema["properties"][name]["enum"]]
            if "default" in prop:
                prop["default"] = str(prop["default"])
        properties[name] = prop
    return {**schema, "properties": properties}


def image_fields(schema):
    """Return {field: max_files} for the schema's image-URL inputs (uploads on the web form)."""
    found = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("type") == "string" and prop.get("format") == "uri":
            found[name] = 1
        elif prop.get("type") == "array" and (prop.get("items") or {}).get("format") == "uri":
            found[name] = int(prop.get("maxItems") or 16)
    return found
