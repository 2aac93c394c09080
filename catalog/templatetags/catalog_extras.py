"""Template filters for catalogue pages, billing pages and the admin; money goes through catalog/money.py."""

from decimal import Decimal

from django import template

from catalog.money import usd_cents, usd_dollars, usd_unit

register = template.Library()


@register.filter
def cents_usd(cents):
    """Render integer cents as dollars: 2500 → $25.00."""
    if cents in (None, ""):
        return ""
    return usd_cents(cents)


@register.filter
def usd(amount):
    """Render a Decimal of dollars: 0.04 → $0.04, 0.00962 → $0.0096."""
    if amount in (None, ""):
        return ""
    return usd_dollars(amount)


@register.filter(name="usd_unit")
def usd_unit_filter(amount):
    """Render the price of one thing (a Decimal of dollars): 0.01 → 1¢, 1.2 → $1.20."""
    if amount in (None, ""):
        return ""
    return usd_unit(amount)


@register.filter
def credits_usd(credits, usd_per_credit):
    """The price of `credits` at the base rate, as a unit price.

    {{ 4|credits_usd:settings.usd_per_credit }} → 4¢."""
    if credits in (None, "") or usd_per_credit in (None, ""):
        return ""
    return usd_unit(Decimal(credits) * Decimal(usd_per_credit))


@register.filter
def per_credit_usd(pack):
    """Render what one credit of a pack costs: $25.00 for 2600 credits → 0.96¢."""
    return usd_unit(Decimal(pack.price_cents) / 100 / pack.credits)


@register.filter
def pack_bonus_percent(pack, usd_per_credit):
    """Return the pack's extra credits over the base rate, in whole percent (0 when none)."""
    base = Decimal(pack.price_cents) / 100 / Decimal(usd_per_credit)
    if not base:
        return 0
    return max(0, int((Decimal(pack.credits) - base) * 100 / base))


@register.filter
def plain(number):
    """Render a Decimal without trailing zeros or exponent: 4000.00 → 4000, 0.00500 → 0.005."""
    if number in (None, ""):
        return ""
    return f"{Decimal(number).normalize():f}"
