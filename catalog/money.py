"""Showing money to people: one formatter per unit, with exact arithmetic (no float near money).

`usd_cents` takes integer cents (what customers pay: top-ups, packs, receipts); `usd_dollars`
takes a Decimal amount of dollars that may hold fractions of a cent (what KIE bills, margins,
the price of one credit). Every page, the admin and e-mails format money through these two.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def usd_cents(cents):
    """Return integer cents as dollars, e.g. 123450 → "$1,234.50", -5 → "-$0.05"."""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"


def usd_dollars(amount, *, places=None):
    """Return a Decimal of dollars: to the cent when exact, else to a hundredth of a cent.

    `places` forces a precision (4 for the price of one credit, e.g. "$0.0096").
    """
    amount = Decimal(amount)
    if places is None:
        places = 2 if amount == amount.quantize(CENT) else 4
    rounded = abs(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{'-' if amount < 0 and rounded else ''}${rounded:,}"
