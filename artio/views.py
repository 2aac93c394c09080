"""Pages of the project package (the API keys page) and the partner API's routes.

`api_urlpatterns` holds every partner API route except /models (the catalogue's); artio/urls.py
mounts them under /api/v1/.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path
from django.views.decorators.http import require_POST

from billing.api import BalanceApi, LedgerApi
from generation.api import GenerationDetailApi, GenerationListCreateApi, QuoteApi

from .selectors import (
    DEFAULT_RATE_PER_MINUTE,
    api_keys_for_user,
    partner_settings_get,
    webhook_deliveries_for_user,
)
from .services import api_key_create, api_key_revoke, webhook_secret_rotate

# The new key is kept in the session only until the page after the redirect shows it, once.
NEW_KEY_SESSION = "artio_new_api_key"


def placeholder(request, title="Artio"):
    return render(request, "placeholder.html", {"title": title})


@login_required
def api_keys(request):
    return render(
        request,
        "artio/api_keys.html",
        {
            "keys": api_keys_for_user(user=request.user),
            "new_key": request.session.pop(NEW_KEY_SESSION, None),
            "partner": partner_settings_get(user=request.user),
            "default_rate": DEFAULT_RATE_PER_MINUTE,
            "deliveries": webhook_deliveries_for_user(user=request.user, limit=50),
        },
    )


@login_required
@require_POST
def api_key_create_view(request):
    name = request.POST.get("name", "").strip()
    api_key, raw_key = api_key_create(user=request.user, name=name)
    request.session[NEW_KEY_SESSION] = {"key": raw_key, "name": api_key.name}
    return redirect("api-keys")


@login_required
@require_POST
def api_key_revoke_view(request, key_id):
    api_key = api_key_revoke(user=request.user, key_id=key_id)
    messages.success(request, f"Key artio_{api_key.prefix}_… is revoked; requests with it now get 401.")
    return redirect("api-keys")


@login_required
@require_POST
def webhook_secret_rotate_view(request):
    webhook_secret_rotate(user=request.user)
    messages.success(request, "New webhook signing secret: webhooks are signed with it from now on.")
    return redirect("api-keys")


def api_not_found(request, rest=""):
    """Answer any /api/v1/ path no route matched in the API's error shape, not Django's HTML page."""
    body = {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
    return JsonResponse(body, status=404)


urlpatterns = [
    path("account/api-keys/", api_keys, name="api-keys"),
    path("account/api-keys/create/", api_key_create_view, name="api-key-create"),
    path("account/api-keys/<int:key_id>/revoke/", api_key_revoke_view, name="api-key-revoke"),
    path("account/api-keys/webhook-secret/", webhook_secret_rotate_view, name="api-webhook-secret-rotate"),
]

api_urlpatterns = [
    path("quotes", QuoteApi.as_view(), name="api-quotes"),
    path("generations", GenerationListCreateApi.as_view(), name="api-generations"),
    path("generations/<str:public_id>", GenerationDetailApi.as_view(), name="api-generation-detail"),
    path("balance", BalanceApi.as_view(), name="api-balance"),
    path("ledger", LedgerApi.as_view(), name="api-ledger"),
    # Last of all /api/v1/ routes (artio/urls.py mounts these after the apps'): anything unmatched,
    # even an id with a slash or a newline in it, gets the JSON 404.
    re_path(r"^(?P<rest>[\s\S]*)$", api_not_found),
]
