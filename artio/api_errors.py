"""The partner API's one error shape: {"error": {"code", "message", "details"}}.

The contract is docs/reference/api-contract.md.
"""

import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from .errors import ArtioError


def error_response(*, code, message, status_code, details=None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(body, status=status_code, headers=headers)


def _field_details(detail):
    """Flatten DRF's nested validation detail into {"field.sub": ["message", ...]}."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            for sub, messages in _field_details(value).items():
                flat[f"{key}.{sub}" if sub else str(key)] = messages
        return flat
    if isinstance(detail, list) and detail and all(isinstance(d, (dict, list)) for d in detail):
        flat = {}
        for index, value in enumerate(detail):
            for sub, messages in _field_details(value).items():
                flat[f"{index}.{sub}" if sub else str(index)] = messages
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {"": [str(item) for item in items]}


def _too_big():
    """Return the 400 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django raises it from request.body)."""
    return exceptions.ParseError(
        f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes allowed."
    )


def exception_handler(exc, context):
    if isinstance(exc, ArtioError):
        return error_response(
            code=exc.code,
            message=exc.message,
            status_code=exc.http_status,
            details=exc.details,
            headers=exc.headers,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = _too_big()
    if isinstance(exc, exceptions.ValidationError):
        details = _field_details(exc.detail)
        details = {key or "non_field_errors": value for key, value in details.items()}
        return error_response(
            code="invalid_input",
            message="The request is not valid; see details for each field.",
            status_code=status.HTTP_400_BAD_REQUEST,
            details=details,
        )
    if isinstance(exc, exceptions.ParseError):
        return error_response(code="invalid_input", message=str(exc.detail), status_code=400)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return error_response(
            code="unauthenticated",
            message=str(exc.detail),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    if isinstance(exc, exceptions.Throttled):
        # Whole seconds, rounded up: a client that waits Retry-After is never early (nor told 0).
        wait = max(1, math.ceil(exc.wait or 1))
        return error_response(
            code="rate_limited",
            message=f"Too many requests; retry in {wait} s.",
            status_code=429,
            details={"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, exceptions.NotFound):
        return error_response(code="not_found", message="Not found.", status_code=404)
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return error_response(code=code, message=str(exc.detail), status_code=exc.status_code)
    return None


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. insufficient_credits.")
    message = serializers.CharField(help_text="A sentence fit to show a person.")
    details = serializers.DictField(help_text="Per-field messages, or facts such as required/balance.")


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the partner API (for the OpenAPI document)."""

    error = ErrorDetailSerializer()


def api_not_found(request, rest=""):
    """Answer any /api/v1/ path no route matched in the API's error shape, not Django's HTML page."""
    body = {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
    return JsonResponse(body, status=404)
