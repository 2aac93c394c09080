"""A strict Content-Security-Policy on every page, and templates that need nothing inline."""

import re

import pytest

from tests.test_settings import PRODUCTION_ENV, ROOT, manage

TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "<style> block": re.compile(r"<style\b", re.IGNORECASE),
    "style= attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "on*= handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
}
DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "form-action": "'self' https://checkout.stripe.com https://billing.stripe.com",
}
SHOW_HEADER = (
    "from django.test import Client; "
    "print(Client().get('/api/schema/', secure=True, HTTP_HOST='artio.example.com')"
    ".headers['Content-Security-Policy'])"
)
REAL_KEYS = {"KIE_API_KEY": "k", "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}


def policy(header):
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_production_responses_carry_the_strict_policy():
    result = manage("shell", "--no-imports", "-c", SHOW_HEADER, env={**PRODUCTION_ENV, **REAL_KEYS})

    assert result.returncode == 0, result.stderr
    assert policy(result.stdout.strip()) == DIRECTIVES


def test_images_in_s3_are_allowed_from_the_bucket_only():
    env = {**PRODUCTION_ENV, **REAL_KEYS, "AWS_STORAGE_BUCKET_NAME": "artio-images"}

    result = manage("shell", "--no-imports", "-c", SHOW_HEADER, env=env)

    assert result.returncode == 0, result.stderr
    assert policy(result.stdout.strip())["img-src"] == "'self' data: https://artio-images.s3.amazonaws.com"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/generate/", "/api/docs/", "/admin/"])
def test_development_pages_carry_the_same_policy(client, staff, path):
    if path not in {"/", "/accounts/login/"}:
        client.force_login(staff)

    response = client.get(path)

    assert response.status_code == 200
    assert policy(response.headers["Content-Security-Policy"]) == DIRECTIVES


@pytest.mark.django_db
def test_the_api_docs_script_is_a_file_of_its_own(client):
    page = client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="(/api/docs/\?[^"]*)"', page).group(1).replace("&amp;", "&")

    response = client.get(script)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_no_template_needs_inline_script_or_style():
    found = [
        f"{path.relative_to(ROOT)}: {what}: {match.group(0)!r}"
        for folder in TEMPLATE_DIRS
        for path in sorted(folder.rglob("*.html"))
        for what, pattern in INLINE.items()
        for match in pattern.finditer(path.read_text())
    ]

    assert found == []


def test_no_admin_code_renders_inline_style():
    # Admin widgets and format_html() render HTML from Python: style attributes are refused there too.
    pattern = re.compile(r"""<[a-z][^>]*\sstyle=|attrs=\{[^}]*["']style["']""")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for app in ["artio", "billing", "catalog", "generation"]
        for path in sorted((ROOT / app).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]

    assert found == []


def test_the_inline_check_catches_what_the_policy_refuses():
    bad = ["<script>go()</script>", '<p style="color:red">', '<form onsubmit="go()">', "<style>p{}</style>"]

    assert all(any(p.search(html) for p in INLINE.values()) for html in bad)
    assert not any(p.search('<script src="/static/js/artio.js" defer></script>') for p in INLINE.values())
