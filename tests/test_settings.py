"""The settings contract (README, "Configuration"), checked in fresh interpreters."""

import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret",
    "DJANGO_ALLOWED_HOSTS": "artio.example.com",
    "ARTIO_PUBLIC_URL": "https://artio.example.com",
}


def manage(*args, env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ARTIO_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", env={"DJANGO_ALLOWED_HOSTS": "artio.example.com"})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_boolean_fails_loudly():
    result = manage("check", env={**PRODUCTION_ENV, "DJANGO_DEBUG": "maybe"})

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be 0 or 1" in result.stderr


def test_no_sandbox_beside_a_live_stripe_key():
    result = manage("check", env={**PRODUCTION_ENV, "STRIPE_SECRET_KEY": "sk_live_abc"})

    assert result.returncode != 0
    assert "sandbox cannot run beside a live Stripe key" in result.stderr


def test_development_mail_prints_links_whole():
    from django.core.mail import EmailMessage

    from artio.mail import ReadableConsoleBackend

    link = "http://127.0.0.1:8000/accounts/confirm-email/" + "Mg:1wAbCdEf-" * 8 + "/"
    stream = io.StringIO()
    ReadableConsoleBackend(stream=stream).send_messages(
        [EmailMessage("Confirm", f"Go to {link} now", "a@example.com", ["b@example.com"])]
    )

    assert link in stream.getvalue()
    assert "Subject: Confirm" in stream.getvalue()


def test_queue_never_redelivers_a_running_task_and_retries_are_bounded(settings):
    # django-q2 re-delivers a task after `retry` seconds; a task may run `timeout` seconds.
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    assert 1 <= settings.Q_CLUSTER["max_attempts"] <= 10
