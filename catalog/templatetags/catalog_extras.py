"""Template filters for catalogue pages and the admin; money goes through catalog/money.py."""

from decimal import Decimal

from django import template

from catalog.money import usd_cents, usd_dollars

register = template.Library()


@register.filter
def credits_usd(credits, usd_per_credit):
    """Render `credits` at the base rate: {{ price.credits|credits_usd:settings.usd_per_credit }} → $0.04."""
    if credits in (None, "") or usd_per_credit in (None, ""):
        return ""
    return usd_dollars(Decimal(credits) * Decimal(usd_per_credit))


@register.filter
def cents_usd(cents):
    """Render integer cents as dollars: 2500 → $25.00."""
    return usd_cents(cents)


@register.filter
def per_credit_usd(pack):
    """Render what one credit of a pack costs: $25.00 for 2600 credits → $0.0096."""
    return usd_dollars(Decimal(pack.price_cents) / 100 / pack.credits, places=4)


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
