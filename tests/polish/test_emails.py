"""E-mails in Artio's voice: every message is text with an HTML alternative, and both render."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from artio.mail import mail_render, mail_send
from billing import autotopup, services

pytestmark = pytest.mark.django_db


def html_of(message):
    ((html, kind),) = message.alternatives
    assert kind == "text/html"
    return html


def assert_branded(message):
    html = html_of(message)
    assert "Artio" in message.body and "— The Artio team" in message.body
    assert '<html lang="en">' in html and "The Artio team" in html
    assert "apple-touch-icon" in html  # the logo, from an absolute URL
    assert not re.search(r"\sstyle\s*=", html)  # the layout needs no CSS (tests/security/test_csp.py)
    assert "{{" not in message.body + html and "{%" not in message.body + html


def test_signup_confirmation_is_branded_text_and_html(client):
    client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    message = mail.outbox[-1]
    assert message.subject == "Welcome to Artio: confirm your e-mail address"
    assert_branded(message)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    assert f'href="{link}"' in html_of(message)
    assert "Confirm my address" in html_of(message)


def test_password_reset_is_branded_text_and_html(client, alice):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)

    client.post("/accounts/password/reset/", {"email": alice.email})

    message = mail.outbox[-1]
    assert message.subject == "Reset your Artio password"
    assert_branded(message)
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", message.body).group(0)
    assert f'href="{link}"' in html_of(message)


def test_password_reset_for_an_unknown_address_says_so_kindly(client):
    client.post("/accounts/password/reset/", {"email": "nobody@example.com"})

    message = mail.outbox[-1]
    assert message.subject == "About your Artio password reset"
    assert_branded(message)
    assert "nobody@example.com" in message.body


def test_low_balance_alert_is_branded_text_and_html(alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=1234, reason="seed")
    account.low_balance_alert_at = 5000
    account.save(update_fields=["low_balance_alert_at"])

    assert autotopup.low_balance_mail_send(account_id=account.pk)

    message = mail.outbox[-1]
    assert message.to == [alice.email]
    assert_branded(message)
    assert "1,234 credits" in message.body and "1,234 credits" in html_of(message)
    assert "/billing/" in html_of(message)


@pytest.mark.parametrize(
    ("name", "context", "expected"),
    [
        (
            "topup_declined",
            {"credits": "1,000", "amount": "$10.00", "reason": "Your card was declined."},
            "$10.00",
        ),
        (
            "renewal_failed",
            {"plan": "Premium", "amount": "$20.00", "deadline": "May 3, 2026 10:00"},
            "Premium",
        ),
    ],
)
def test_every_project_email_renders_text_and_html(name, context, expected):
    context = {**context, "action_url": "https://artio.example/billing/", "action_label": "Go"}
    text, html = mail_render(name, context)

    assert expected in text and expected in html
    assert "https://artio.example/billing/" in text and 'href="https://artio.example/billing/"' in html
    mail_send(to=["a@example.com"], subject="s", name=name, context=context)
    assert_branded(mail.outbox[-1])
