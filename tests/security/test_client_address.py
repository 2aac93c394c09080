"""Per-client limits see the client behind ARTIO_TRUSTED_PROXIES proxies, and no forged header."""

import pytest
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"  # every request reaches gunicorn from the TLS proxy
RIGHT = "correct-horse-battery"
LOCKED = "Too many failed login attempts"


def sign_in(client, user, password, forwarded_for):
    return client.post(
        "/accounts/login/",
        {"login": user.email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_behind_one_proxy_a_guesser_does_not_lock_out_other_clients(client, alice, bob, verified, settings):
    # given one proxy in front, and client A guessing alice's password five times
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    verified(alice), verified(bob)
    for _ in range(5):
        sign_in(client, alice, "wrong", "203.0.113.5")

    # when client B, through the same proxy, signs in as bob
    response = sign_in(client, bob, RIGHT, "198.51.100.7")

    # then B gets in, while A is still locked out, even for another account
    assert LOCKED not in response.content.decode()
    assert response.status_code == 302
    client.logout()
    assert LOCKED in sign_in(client, bob, RIGHT, "203.0.113.5").content.decode()


def test_behind_one_proxy_a_forged_header_is_not_the_client_address(client, alice, bob, verified, settings):
    # given one proxy, which appends the address it sees to whatever the client sent
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    verified(alice), verified(bob)
    for i in range(5):
        sign_in(client, alice, "wrong", f"192.0.2.{i}, 203.0.113.5")

    response = sign_in(client, bob, RIGHT, "192.0.2.99, 203.0.113.5")

    assert LOCKED in response.content.decode()


def test_without_trusted_proxies_a_forged_header_does_not_escape_the_limit(client, alice, bob, verified):
    # given the default (ARTIO_TRUSTED_PROXIES=0): X-Forwarded-For comes from the client itself
    verified(alice), verified(bob)
    for i in range(5):
        sign_in(client, alice, "wrong", f"192.0.2.{i}")

    # when the same machine claims yet another address
    response = sign_in(client, bob, RIGHT, "192.0.2.99")

    # then the limit still counts it by its real address
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_api_throttles_ignore_a_forged_header_by_default():
    request = RequestFactory().get("/api/v1/models", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1")

    assert SimpleRateThrottle.get_ident(None, request) == PROXY


def test_api_throttles_see_the_client_behind_one_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = RequestFactory().get(
        "/api/v1/models", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.5"
    )

    assert SimpleRateThrottle.get_ident(None, request) == "203.0.113.5"
