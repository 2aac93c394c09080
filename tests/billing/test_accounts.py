"""Sign-up, e-mail verification and the one-time sign-up bonus; the account pages' look."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache

from artio.models import User
from billing import services
from billing.models import Account, BillingSettings, LedgerEntry, LedgerKind

pytestmark = pytest.mark.django_db


def _signup(client, email="new@example.com"):
    return client.post(
        "/accounts/signup/",
        {"email": email, "password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"},
    )


def _confirm_url():
    body = mail.outbox[-1].body
    return re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", body).group(0)


def test_signup_opens_an_account_and_verification_grants_the_bonus_once(client):
    # given a new sign-up: an empty account, no bonus before the address is verified
    response = _signup(client)
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert Account.objects.get(user=user).balance == 0
    assert not LedgerEntry.objects.exists()

    # when the user follows the link in the e-mail and confirms
    url = _confirm_url()
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200
    client.post("/" + path)

    # then the bonus lands once, even if the confirmation runs again
    client.post("/" + path)
    services.signup_bonus_grant(user=user)
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.reference) == (LedgerKind.SIGNUP_BONUS, 20, f"signup:{user.pk}")
    assert Account.objects.get(user=user).balance == 20
    assert EmailAddress.objects.get(user=user).verified


def test_bonus_amount_is_staff_editable(make_user):
    settings_row = BillingSettings.load()
    settings_row.signup_bonus_credits = 75
    settings_row.save()
    user = make_user()

    services.signup_bonus_grant(user=user)

    assert Account.objects.get(user=user).balance == 75


def test_zero_bonus_writes_no_row(make_user):
    settings_row = BillingSettings.load()
    settings_row.signup_bonus_credits = 0
    settings_row.save()
    user = make_user()

    assert services.signup_bonus_grant(user=user) is None
    assert not LedgerEntry.objects.exists()
    assert Account.objects.filter(user=user).exists()


def test_unverified_user_cannot_sign_in(client):
    _signup(client)
    client.logout()

    response = client.post(
        "/accounts/login/", {"login": "new@example.com", "password": "a-long-unusual-passphrase"}
    )

    assert response.status_code == 302
    assert "confirm-email" in response["Location"]


@pytest.mark.parametrize(
    ("url", "heading"),
    [
        ("/accounts/login/", "Sign in"),
        ("/accounts/signup/", "Create your account"),
        ("/accounts/password/reset/", "Reset your password"),
        ("/accounts/confirm-email/", "Check your e-mail"),
    ],
)
def test_account_pages_use_the_site_layout(client, url, heading):
    page = client.get(url).content.decode()

    assert f"<h1>{heading}</h1>" in page
    assert 'class="site-header"' in page
    assert "css/billing.css" in page
    assert "<label" in page or "Check your e-mail" in page


def test_login_form_errors_are_shown(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)

    response = client.post("/accounts/login/", {"login": alice.email, "password": "wrong"})

    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()


@pytest.fixture
def fresh_cache():
    # allauth keeps its rate-limit counters in the cache; each test starts and ends with none.
    cache.clear()
    yield
    cache.clear()


def test_login_is_rate_limited_after_five_failures(client, alice, fresh_cache):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    for _ in range(5):
        failed = client.post("/accounts/login/", {"login": alice.email, "password": "wrong"})
        assert "Too many failed login attempts" not in failed.content.decode()

    # even the right password is refused now: the limit stops guessing, not just wrong guesses
    response = client.post("/accounts/login/", {"login": alice.email, "password": "correct-horse-battery"})

    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_limit_counts_per_address_across_ips(client, bob, fresh_cache):
    EmailAddress.objects.create(user=bob, email=bob.email, verified=True, primary=True)
    for i in range(5):
        client.post("/accounts/login/", {"login": bob.email, "password": "wrong"}, REMOTE_ADDR=f"192.0.2.{i}")

    right = {"login": bob.email, "password": "correct-horse-battery"}
    response = client.post("/accounts/login/", right, REMOTE_ADDR="192.0.2.99")

    assert "Too many failed login attempts" in response.content.decode()


def test_password_reset_by_email_sets_a_new_password(client, alice, fresh_cache):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)

    client.post("/accounts/password/reset/", {"email": alice.email})
    path = re.search(r"/accounts/password/reset/key/[^\s]+/", mail.outbox[-1].body).group(0)
    # allauth moves the key from the URL into the session, then shows the form
    form_page = client.get(path, follow=True)
    new_password = {"password1": "another-long-passphrase", "password2": "another-long-passphrase"}
    done = client.post(form_page.request["PATH_INFO"], new_password)

    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another-long-passphrase")


def test_sign_out_is_a_post(client, alice):
    client.force_login(alice)

    assert client.get("/accounts/logout/").status_code == 200  # a confirmation page, still signed in
    assert "_auth_user_id" in client.session
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_field_errors_are_announced_with_their_input(client):
    page = client.post("/accounts/signup/", {"email": "not-an-address", "password1": "x", "password2": "y"})

    html = page.content.decode()
    described_by = re.search(r'<input[^>]*name="email"[^>]*aria-describedby="([^"]+)"', html).group(1)
    for target in described_by.split():
        assert f'id="{target}"' in html  # every id the input points at is on the page
    assert "id_email_error" in described_by
