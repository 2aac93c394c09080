"""What the OpenAPI document says that views' decorators cannot: drf-spectacular post-processing hooks.

Listed in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"], after drf-spectacular's own enum hook (which
gives each value set one named component). Imports no app.
"""

# The `code` of every error the API answers (docs/reference/api-contract.md). More may come.
ERROR_CODES = (
    "invalid_input",
    "unauthenticated",
    "insufficient_credits",
    "spend_cap_reached",
    "plan_required",
    "account_frozen",
    "not_found",
    "idempotency_in_progress",
    "idempotency_key_reused",
    "rate_limited",
    "provider_unavailable",
    "model_paused",
)
OPEN_VALUES_NOTE = (
    'New values may be added within v1 without notice (docs/api.md, "Versioning"): accept any '
    "string, and show or skip a value you do not know rather than fail on it."
)
# Every webhook Artio sends carries it (generation/webhooks.py signs, docs/api.md shows the check).
SIGNATURE_HEADER = {
    "name": "Artio-Signature",
    "in": "header",
    "required": True,
    "description": (
        '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with your webhook signing secret>`.'
    ),
    "schema": {"type": "string", "pattern": r"^t=\d+,v1=[0-9a-f]{64}$"},
}
RETRY_AFTER = {
    "description": "Whole seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 1},
}


def _open_string(values, description=""):
    """Return a string schema that lists `values` as known, not as the only ones allowed."""
    values = [value for value in values if value not in ("", None)]
    known = ", ".join(f"`{value}`" for value in values)
    text = f"{description} " if description else ""
    return {
        "type": "string",
        "description": f"{text}Known values: {known}. {OPEN_VALUES_NOTE}",
        # Zalando's convention for an enum that may grow; generators treat the field as a string.
        "x-extensible-enum": values,
        "example": values[0],
    }


def open_value_sets(result, generator, request, public):
    """Turn every enum component into an open string, and name the error codes' value set.

    A closed enum makes generated clients refuse values they do not know (openapi-python-client
    raises ValueError), so one new model family would break every integrated partner's listing.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for name, schema in list(schemas.items()):
        if "enum" in schema:
            schemas[name] = _open_string(schema["enum"], schema.get("description", ""))
    if "ErrorDetail" in schemas:
        schemas["ErrorCode"] = _open_string(ERROR_CODES, "What went wrong, for programs.")
        schemas["ErrorDetail"]["properties"]["code"] = {
            "allOf": [{"$ref": "#/components/schemas/ErrorCode"}],
            "description": "Stable machine-readable code, e.g. insufficient_credits.",
        }
    return result


def headers(result, generator, request, public):
    """Declare `Retry-After` on every 429 (rate limit) and 409 (idempotency key still running), and
    the signature header on every callback (drf-spectacular takes no parameters for a callback)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status in ("409", "429"):
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
            for callback in operation.get("callbacks", {}).values():
                for callback_operations in callback.values():
                    for callback_operation in callback_operations.values():
                        callback_operation.setdefault("parameters", []).append(SIGNATURE_HEADER)
    return result
