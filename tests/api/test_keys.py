"""API keys: hashed storage, Bearer authentication, revocation, the keys page and the command."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from artio.models import ApiKey, PartnerSettings
from artio.services import api_key_create, api_key_verify

from .conftest import client_for

pytestmark = pytest.mark.django_db


def test_key_is_shown_once_and_stored_only_as_prefix_and_hash(alice):
    api_key, raw_key = api_key_create(user=alice, name="ci")

    prefix = raw_key.split("_")[1]
    assert raw_key.startswith(f"artio_{prefix}_")
    assert api_key.prefix == prefix
    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key not in str(ApiKey.objects.values().get(pk=api_key.pk))


def test_balance_with_a_valid_key(alice_api):
    response = alice_api.get("/api/v1/balance")

    assert response.status_code == 200
    assert response.json() == {"credits": 1000, "plan": "premium", "frozen": False}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-an-artio-key",
        "Bearer artio_deadbeef0000_wrongsecret",
        "Token artio_x_y",
    ],
)
def test_missing_malformed_or_unknown_key_is_401_in_the_error_shape(alice_key, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/balance")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_with_a_wrong_secret_is_401(alice_key):
    forged = alice_key.rsplit("_", 1)[0] + "_" + "x" * 43

    assert client_for(forged).get("/api/v1/balance").status_code == 401


def test_revoked_key_is_401(alice, alice_key):
    client = client_for(alice_key)
    assert client.get("/api/v1/balance").status_code == 200
    ApiKey.objects.filter(user=alice).update(revoked_at=timezone.now())

    response = client.get("/api/v1/balance")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_inactive_user_key_is_401(alice, alice_key):
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)

    assert client_for(alice_key).get("/api/v1/balance").status_code == 401


def test_public_models_endpoint_works_without_a_key(alice_key):
    response = APIClient().get("/api/v1/models")

    assert response.status_code == 200


def test_last_used_is_written_at_most_once_a_minute(alice, alice_key):
    client = client_for(alice_key)
    client.get("/api/v1/balance")
    first = ApiKey.objects.get(user=alice).last_used_at
    assert first is not None

    client.get("/api/v1/balance")
    assert ApiKey.objects.get(user=alice).last_used_at == first

    ApiKey.objects.filter(user=alice).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/balance")
    assert ApiKey.objects.get(user=alice).last_used_at > first - timedelta(minutes=1)


def test_verify_rejects_keys_without_the_artio_shape(alice_key):
    assert api_key_verify(raw_key=alice_key) is not None
    for bad in ("", "artio_", "artio__secret", "artio_prefixonly", alice_key + "x", "x" * 500):
        assert api_key_verify(raw_key=bad) is None


def test_frozen_account_gets_403_on_generation_endpoints_but_can_read_its_balance(alice, alice_api):
    type(alice.account).objects.filter(user=alice).update(frozen=True, frozen_reason="payment disputed")

    quote = alice_api.post(
        "/api/v1/quotes", {"model": "google/imagen4-fast", "input": {"prompt": "x"}}, format="json"
    )
    listing = alice_api.get("/api/v1/generations")
    balance = alice_api.get("/api/v1/balance")

    assert quote.status_code == 403
    assert quote.json()["error"]["code"] == "account_frozen"
    assert listing.status_code == 403
    assert balance.status_code == 200
    assert balance.json()["frozen"] is True


# --- The keys page -----------------------------------------------------------------------------


def test_keys_page_requires_login(client):
    response = client.get(reverse("api-keys"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_create_key_on_the_page_shows_it_once(client, alice):
    client.force_login(alice)

    response = client.post(reverse("api-key-create"), {"name": "laptop"})
    assert response.status_code == 302
    page = client.get(reverse("api-keys")).content.decode()
    again = client.get(reverse("api-keys")).content.decode()

    api_key = ApiKey.objects.get(user=alice)
    assert api_key.name == "laptop"
    assert f'value="artio_{api_key.prefix}_' in page
    assert f'value="artio_{api_key.prefix}_' not in again
    assert f"artio_{api_key.prefix}_…" in again
    # The key works.
    raw = page.split('id="new-key-value"')[1].split('value="')[1].split('"')[0]
    assert client_for(raw).get("/api/v1/balance").status_code == 200


def test_create_and_revoke_need_post(client, alice):
    client.force_login(alice)
    api_key, _raw = api_key_create(user=alice)

    assert client.get(reverse("api-key-create")).status_code == 405
    assert client.get(reverse("api-key-revoke", args=[api_key.pk])).status_code == 405
    assert not ApiKey.objects.filter(user=alice).exclude(pk=api_key.pk).exists()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_revoke_on_the_page(client, alice):
    client.force_login(alice)
    api_key, raw_key = api_key_create(user=alice)

    response = client.post(reverse("api-key-revoke", args=[api_key.pk]))

    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert client_for(raw_key).get("/api/v1/balance").status_code == 401


def test_cannot_revoke_another_users_key(client, alice, bob):
    bob_key, _raw = api_key_create(user=bob)
    client.force_login(alice)

    response = client.post(reverse("api-key-revoke", args=[bob_key.pk]))

    assert response.status_code == 404
    assert ApiKey.objects.get(pk=bob_key.pk).revoked_at is None


def test_keys_page_writes_nothing_and_the_secret_comes_with_the_first_key(client, alice):
    client.force_login(alice)

    before = client.get(reverse("api-keys")).content.decode()
    assert not PartnerSettings.objects.exists()
    assert "created with your first key" in before and "Rotate secret" not in before

    client.post(reverse("api-key-create"), {"name": "laptop"})

    secret = PartnerSettings.objects.get(user=alice).webhook_secret
    assert secret in client.get(reverse("api-keys")).content.decode()


def test_webhook_secret_is_shown_and_rotates(client, alice):
    client.force_login(alice)
    api_key_create(user=alice)
    page = client.get(reverse("api-keys")).content.decode()
    secret = PartnerSettings.objects.get(user=alice).webhook_secret
    assert secret.startswith("whsec_")
    assert secret in page

    response = client.post(reverse("api-webhook-secret-rotate"))

    assert response.status_code == 302
    new_secret = PartnerSettings.objects.get(user=alice).webhook_secret
    assert new_secret != secret
    assert new_secret in client.get(reverse("api-keys")).content.decode()


# --- manage.py create_api_key -------------------------------------------------------------------


def test_command_prints_key_and_webhook_secret(alice):
    out = StringIO()

    call_command("create_api_key", "ALICE@example.com", "--name", "batch", stdout=out)

    text = out.getvalue()
    api_key = ApiKey.objects.get(user=alice)
    raw = text.split("store it now): ")[1].split()[0]
    assert api_key.name == "batch"
    assert raw.startswith(f"artio_{api_key.prefix}_")
    assert PartnerSettings.objects.get(user=alice).webhook_secret in text
    assert client_for(raw).get("/api/v1/balance").status_code == 200


def test_command_unknown_email_fails(db):
    with pytest.raises(CommandError):
        call_command("create_api_key", "nobody@example.com", stdout=StringIO())
