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
    # Only what the test passes: tests/testenv.py sets a Stripe webhook secret for this process.
    own = ("DJANGO_", "ARTIO_", "DATABASE_URL", "KIE_", "STRIPE_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(own)}
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


REAL_KEYS = {
    "KIE_API_KEY": "kie-production-key",
    "STRIPE_SECRET_KEY": "sk_live_production",
    "STRIPE_WEBHOOK_SECRET": "whsec_production",
}


def test_production_without_keys_refuses_to_start_rather_than_run_a_sandbox():
    # A sandbox checkout in production would hand out credits for a fake payment.
    result = manage("check", env=PRODUCTION_ENV)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "set KIE_API_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET" in result.stderr


def test_production_names_only_the_keys_that_are_missing():
    result = manage("check", env={**PRODUCTION_ENV, "KIE_API_KEY": "k", "STRIPE_SECRET_KEY": "sk_live_x"})

    assert result.returncode != 0
    assert "set STRIPE_WEBHOOK_SECRET, or ARTIO_SANDBOX=1" in result.stderr


def test_production_with_real_keys_passes_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, **REAL_KEYS})

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_public_demo_opts_in_to_the_sandboxes_and_check_deploy_warns():
    env = {**PRODUCTION_ENV, "ARTIO_SANDBOX": "1"}

    started = manage("check", env=env)
    deploy = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert started.returncode == 0, started.stdout + started.stderr
    assert deploy.returncode != 0
    assert "artio.W001" in deploy.stderr  # the Stripe sandbox
    assert "artio.W002" in deploy.stderr  # the KIE sandbox


def test_check_deploy_warns_about_test_mode_stripe_and_private_webhooks():
    env = {
        **PRODUCTION_ENV,
        **REAL_KEYS,
        "STRIPE_SECRET_KEY": "sk_test_abc",
        "ARTIO_WEBHOOK_ALLOW_PRIVATE": "1",
    }

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "artio.W003" in result.stderr  # Stripe test cards would buy real credits
    assert "artio.W004" in result.stderr


def test_check_deploy_warns_without_a_public_https_address():
    env = {**PRODUCTION_ENV, **REAL_KEYS}
    del env["ARTIO_PUBLIC_URL"]

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "artio.W005" in result.stderr


def test_development_runs_the_sandboxes_unless_turned_off():
    code = "from django.conf import settings; print(settings.KIE_SANDBOX, settings.STRIPE_SANDBOX)"

    development = manage("shell", "--no-imports", "-c", code, env={"DJANGO_DEBUG": "1"})
    turned_off = manage("shell", "--no-imports", "-c", code, env={"DJANGO_DEBUG": "1", "ARTIO_SANDBOX": "0"})

    assert development.stdout.split() == ["True", "True"], development.stderr
    assert turned_off.returncode != 0
    assert "needs the real keys" in turned_off.stderr


def test_trusted_proxies_reach_allauth_and_drf():
    code = (
        "from django.conf import settings; "
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.REST_FRAMEWORK['NUM_PROXIES'])"
    )

    default = manage("shell", "--no-imports", "-c", code, env={"DJANGO_DEBUG": "1"})
    one = manage("shell", "--no-imports", "-c", code, env={"DJANGO_DEBUG": "1", "ARTIO_TRUSTED_PROXIES": "1"})

    assert default.stdout.split() == ["0", "0"], default.stderr
    assert one.stdout.split() == ["1", "1"], one.stderr


def test_a_bad_boolean_fails_loudly():
    result = manage("check", env={**PRODUCTION_ENV, "DJANGO_DEBUG": "maybe"})

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be 0 or 1" in result.stderr


def test_no_sandbox_beside_a_live_stripe_key():
    env = {**PRODUCTION_ENV, "ARTIO_SANDBOX": "1", "STRIPE_SECRET_KEY": "sk_live_abc"}

    result = manage("check", env=env)

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
