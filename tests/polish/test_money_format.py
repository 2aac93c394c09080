"""One money format everywhere: every amount on every page is written as catalog.money writes it.

Amounts paid are dollars to the cent ("$25.00"); fractions of a cent show to a hundredth of a
cent ("$0.0096") and never padded ("$0.0100"); the price of one thing below a dollar is in cents
("1¢", "0.96¢"). A page that formats money itself fails here.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent

DOLLARS = re.compile(r"-?\$\d[\d,]*(?:\.\d+)?")
CENTS = re.compile(r"-?\d[\d,]*(?:\.\d+)?\s*¢")
CANONICAL_DOLLARS = re.compile(r"^-?\$\d{1,3}(?:,\d{3})*\.\d{2}(?:\d{2})?$")
CANONICAL_CENTS = re.compile(r"^-?(?:[1-9]\d?|0)(?:\.\d?[1-9])?¢$")


def stray_amounts(html):
    text = re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ")
    bad = []
    for amount in DOLLARS.findall(text):
        if not CANONICAL_DOLLARS.match(amount) or re.search(r"\.\d\d00$", amount):
            bad.append(amount)
    for amount in CENTS.findall(text):
        if not CANONICAL_CENTS.match(amount):
            bad.append(amount)
    return bad


@pytest.mark.parametrize(
    "html",
    ["$0.0100", "$0.01000", "$1.5", "$0.010", "1.0¢", "0.960¢", "1 ¢", "$1234.00", "150¢"],
)
def test_the_check_catches_every_stray_spelling(html):
    assert stray_amounts(f"<p>{html}</p>") != []


def test_the_check_accepts_the_one_format():
    assert stray_amounts("<p>$25.00 · $1,234.50 · $0.0096 · -$0.05 · 1¢ · 0.96¢ · 12.5¢</p>") == []


def test_every_page_writes_money_one_way(client, alice, staff, history):
    paid, abandoned = history(alice)
    client.force_login(alice)
    pages = {
        "landing": client.get("/"),
        "pricing": client.get("/pricing/"),
        "billing": client.get("/billing/"),
        "receipt": client.get(reverse("billing-receipt", args=[paid.public_id])),
        "unpaid": client.get(reverse("billing-receipt", args=[abandoned.public_id])),
    }
    client.force_login(staff)
    pages["admin prices"] = client.get(reverse("admin:catalog_price_changelist"))
    pages["admin cost table"] = client.get(reverse("admin:catalog_price_cost_table"))
    pages["admin packs"] = client.get(reverse("admin:catalog_creditpack_changelist"))
    pages["admin top-ups"] = client.get(reverse("admin:billing_topup_changelist"))

    found = {}
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert DOLLARS.search(html) or CENTS.search(html), f"{name} shows no money at all"
        if bad := stray_amounts(html):
            found[name] = bad
    assert found == {}


def test_templates_and_code_format_money_only_through_catalog_money():
    # A template writing its own "$" or "¢" around a number, or rounding with floatformat.
    template_dirs = [ROOT / "templates", *ROOT.glob("*/templates")]
    pattern = re.compile(r"\$\{\{|\}\}\s*¢|floatformat|\$\d")
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for folder in template_dirs
        for path in sorted(folder.rglob("*.*"))
        for match in pattern.finditer(path.read_text())
    ]
    # Python that builds "$…" or "…¢" itself instead of calling catalog.money.
    code = re.compile(r"""f["'][^"']*\$\{|\{[^}]*\}¢""")
    found += [
        f"{path.relative_to(ROOT)}:{n}"
        for app in ["artio", "billing", "catalog", "generation"]
        for path in sorted((ROOT / app).rglob("*.py"))
        if path.name != "money.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if code.search(line)
    ]
    assert found == []


def test_money_formatters_agree_on_a_credit():
    from catalog.money import usd_cents, usd_dollars, usd_unit

    assert (usd_cents(1), usd_dollars(Decimal("0.01")), usd_unit(Decimal("0.01"))) == ("$0.01", "$0.01", "1¢")
