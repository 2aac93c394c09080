"""Deploy checks: what `manage.py check --deploy` should refuse to call production-ready.

Each finding is a warning, so `check --deploy --fail-level WARNING` (the gate docs/deploy.md
prescribes) fails while the app would give away credits or images, or leak a key in clear.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _is_public_https(url):
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname not in LOOPBACK_HOSTS


@register(Tags.security, deploy=True)
def sandboxes_check(app_configs, **kwargs):
    """Warn while a sandbox or a test-mode key would let anyone top up or generate for free."""
    warnings = []
    if settings.STRIPE_SANDBOX:
        warnings.append(
            Warning(
                "The Stripe sandbox is on: anyone can 'pay' on the sandbox checkout and get credits.",
                hint="Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (ARTIO_SANDBOX=1 is for demos only).",
                id="artio.W001",
            )
        )
    if settings.KIE_SANDBOX:
        warnings.append(
            Warning(
                "The KIE sandbox is on: generations draw placeholder images instead of calling KIE.",
                hint="Set KIE_API_KEY (ARTIO_SANDBOX=1 is for demos only).",
                id="artio.W002",
            )
        )
    if settings.STRIPE_SECRET_KEY.startswith(("sk_test_", "rk_test_")):
        warnings.append(
            Warning(
                "STRIPE_SECRET_KEY is a test-mode key: anyone can top up with Stripe's test cards.",
                hint="Use the live key (sk_live_…) and its webhook secret.",
                id="artio.W003",
            )
        )
    return warnings


@register(Tags.security, deploy=True)
def outside_systems_check(app_configs, **kwargs):
    """Warn when partner webhooks may reach private addresses, or a key or callback goes over http."""
    warnings = []
    if settings.ARTIO_WEBHOOK_ALLOW_PRIVATE:
        warnings.append(
            Warning(
                "ARTIO_WEBHOOK_ALLOW_PRIVATE is on: a partner's webhook URL may point at http and at "
                "private or loopback addresses inside your network.",
                hint="Unset ARTIO_WEBHOOK_ALLOW_PRIVATE; it is for development and tests.",
                id="artio.W004",
            )
        )
    if not _is_public_https(settings.ARTIO_PUBLIC_URL):
        warnings.append(
            Warning(
                f"ARTIO_PUBLIC_URL is {settings.ARTIO_PUBLIC_URL!r}: KIE callbacks and Stripe redirects "
                "need the site's public https address.",
                hint="Set ARTIO_PUBLIC_URL, e.g. https://artio.example.com.",
                id="artio.W005",
            )
        )
    bases = {
        "KIE_API_BASE": (settings.KIE_API_BASE, not settings.KIE_SANDBOX),
        "KIE_UPLOAD_BASE": (settings.KIE_UPLOAD_BASE, not settings.KIE_SANDBOX),
        "STRIPE_API_BASE": (settings.STRIPE_API_BASE, not settings.STRIPE_SANDBOX),
    }
    for name, (url, carries_a_key) in bases.items():
        if carries_a_key and not _is_public_https(url):
            warnings.append(
                Warning(
                    f"{name} is {url!r}: the API key would be sent to it without TLS or to this machine.",
                    hint=f"Unset {name} to use the provider's https address.",
                    id="artio.W006",
                )
            )
    return warnings
