"""What every partner API view shares: key authentication (`Authorization: Bearer artio_…`),
the per-key rate limit and cursor pagination. Imports no app: accounts are billing's concern
(billing/api.py has the permission that checks them)."""

from urllib.parse import parse_qs, urlsplit

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from .models import ApiKey
from .selectors import rate_limit_for_user
from .services import api_key_verify, rate_counter_hit


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate by API key. No header → anonymous (public endpoints work); a bad key → 401."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw_key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not raw_key.strip():
            raise exceptions.AuthenticationFailed("Send your API key as 'Authorization: Bearer <key>'.")
        api_key = api_key_verify(raw_key=raw_key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("This API key is invalid or has been revoked.")
        return (api_key.user, api_key)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


class ApiKeyRateThrottle(BaseThrottle):
    """Requests per minute per key, the rate being the account's partner setting.

    Counted in the database by one atomic upsert (not the cache's read-then-write, which lets
    simultaneous requests slip past the limit), so the limit holds across every web process.
    """

    WINDOW_SECONDS = 60

    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        limit = rate_limit_for_user(user_id=request.auth.user_id)
        count, self.seconds_left = rate_counter_hit(
            name=f"api-key:{request.auth.pk}", window_seconds=self.WINDOW_SECONDS
        )
        return count <= limit

    def wait(self):
        return self.seconds_left


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "artio.api_auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "artio_<prefix>_<secret>",
            "description": "An API key from /account/api-keys/ or `manage.py create_api_key`.",
        }


class ApiCursorPagination(CursorPagination):
    """Newest first; `?cursor=` from the page before's `next_cursor` (or `next` link), `?limit=` ≤ 100.

    `next_cursor` is there for generated clients, which take a `cursor` argument rather than a URL.
    """

    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        # DRF quietly clamps or ignores a bad limit; the schema promises 1–100, so say so instead.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # The length check keeps int() away from thousands of digits (Python refuses over 4300).
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None

    def _cursor_of(self, link):
        if link is None:
            return None
        return parse_qs(urlsplit(link).query).get(self.cursor_query_param, [None])[0]

    def get_paginated_response(self, data):
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        return Response(
            {
                "next": next_link,
                "previous": previous_link,
                "next_cursor": self._cursor_of(next_link),
                "previous_cursor": self._cursor_of(previous_link),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "`next_cursor` (or `previous_cursor`) of the page before."
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Page size, {self.page_size} by default; at most 100."
                parameter["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
        return parameters

    def get_paginated_response_schema(self, schema):
        # DRF's example links point at "api.example.org/accounts/", whatever the list; the
        # examples of /generations and /ledger are one-page lists, so both links are null.
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["next"]["example"] = None
        paginated["properties"]["previous"]["example"] = None
        for direction in ("next", "previous"):
            paginated["properties"][f"{direction}_cursor"] = {
                "type": "string",
                "nullable": True,
                "description": f"Pass as `?cursor=` for the {direction} page; null when there is none.",
                "example": None,
            }
        paginated["required"] = ["next", "previous", "next_cursor", "previous_cursor", "results"]
        return paginated
