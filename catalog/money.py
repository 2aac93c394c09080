"""Showing money to people: one formatter per kind of amount, with exact arithmetic (no float near money).

The one money format, everywhere (pages, the admin, e-mails, CSV):
- `usd_cents` takes integer cents, what customers pay (top-ups, packs, receipts, limits): "$25.00".
- `usd_dollars` takes a Decimal of dollars that may hold fractions of a cent (what KIE bills,
  margins): to the cent when exact ("$0.04"), else to a hundredth of a cent ("$0.0096"), never with
  padding zeros ("$0.0100" is written "$0.01").
- `usd_unit` is the price of one thing (a credit, an image, a run): in cents below a dollar ("1¢",
  "0.96¢", "4¢"), else as `usd_dollars` ("$1.20").
Templates reach them through catalog's template filters (catalog_extras: cents_usd, usd, usd_unit,
credits_usd, per_credit_usd); tests/catalog/test_money_format.py fails on any other spelling.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDREDTH_CENT = Decimal("0.0001")


def usd_cents(cents):
    """Return integer cents as dollars, e.g. 123450 → "$1,234.50", -5 → "-$0.05"."""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"


def usd_dollars(amount):
    """Return a Decimal of dollars: to the cent when that is exact, else to a hundredth of a cent."""
    amount = Decimal(amount)
    rounded = abs(amount).quantize(HUNDREDTH_CENT, rounding=ROUND_HALF_UP)
    if rounded == rounded.quantize(CENT):
        rounded = rounded.quantize(CENT)
    return f"{'-' if amount < 0 and rounded else ''}${rounded:,}"


def usd_unit(amount):
    """Return the price of one unit (a Decimal of dollars): "1¢", "0.96¢", "12.5¢" below a dollar."""
    amount = Decimal(amount)
    cents = (abs(amount) * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if cents >= 100:
        return usd_dollars(amount)
    text = f"{cents:f}".rstrip("0").rstrip(".")
    return f"{'-' if amount < 0 and cents else ''}{text}¢"
