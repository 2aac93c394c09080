"""Pages of the project package: the API keys page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import path
from django.views.decorators.http import require_POST

from .errors import ArtioError
from .selectors import (
    DEFAULT_RATE_PER_MINUTE,
    api_keys_for_user,
    partner_settings_get,
)
from .services import api_key_cap_set, api_key_create, api_key_revoke, webhook_secret_rotate

# The new key is kept in the session only until the page after the redirect shows it, once.
NEW_KEY_SESSION = "artio_new_api_key"


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links (JSON, files): send them to the icon."""
    return HttpResponsePermanentRedirect(static("img/favicon.ico"))


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
def api_key_cap_view(request, key_id):
    raw = request.POST.get("cap", "").strip()
    try:
        cap = int(raw) if raw else None
    except ValueError:
        cap = -1  # refused below, with the service's message
    try:
        api_key = api_key_cap_set(user=request.user, key_id=key_id, cap=cap)
    except ArtioError as exc:
        messages.error(request, str(exc))
        return redirect("api-keys")
    limit = (
        f"{api_key.monthly_credit_cap:,} credits a month (UTC)" if api_key.monthly_credit_cap else "no cap"
    )
    messages.success(request, f"Key artio_{api_key.prefix}_…: {limit}.")
    return redirect("api-keys")


@login_required
@require_POST
def webhook_secret_rotate_view(request):
    webhook_secret_rotate(user=request.user)
    messages.success(request, "New webhook signing secret: webhooks are signed with it from now on.")
    return redirect("api-keys")


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("account/api-keys/", api_keys, name="api-keys"),
    path("account/api-keys/create/", api_key_create_view, name="api-key-create"),
    path("account/api-keys/<int:key_id>/revoke/", api_key_revoke_view, name="api-key-revoke"),
    path("account/api-keys/<int:key_id>/cap/", api_key_cap_view, name="api-key-cap"),
    path("account/api-keys/webhook-secret/", webhook_secret_rotate_view, name="api-webhook-secret-rotate"),
]
