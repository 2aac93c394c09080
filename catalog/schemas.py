"""Model input schemas: validate what users send, and turn it into what KIE expects.

A model's `input_schema` is JSON Schema (draft 2020-12) with honest types: `num_images` is an
integer here. A property marked `"x-kie-type": "string"` is sent to KIE as a string, because KIE
wants `num_images: "2"`. Defaults in the schema are filled in before sending, since KIE does not
always apply its documented defaults (docs/reference/kie-api.md §8.7).
"""

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

KIE_TYPE = "x-kie-type"


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
        return "Must be a URL."
    return error.message


def _field(error):
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return missing or "input"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return extra[0] if extra else "input"
    return ".".join(str(part) for part in error.absolute_path) or "input"


def validate_input(schema, data):
    """Return `data` with schema defaults filled in, or raise InputInvalid naming each field."""
    if not isinstance(data, dict):
        raise InputInvalid({"input": ["Must be a JSON object."]})
    errors = {}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        errors.setdefault(_field(error), []).append(_message(error))
    if errors:
        raise InputInvalid(errors)
    filled = dict(data)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
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
