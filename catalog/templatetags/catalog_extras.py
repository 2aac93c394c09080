"""Money formatting for catalogue pages and the admin. Decimal all the way; floats never touch prices."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


def _dollars(amount, places):
    quantum = Decimal(1).scaleb(-places)
    return f"${Decimal(amount).quantize(quantum, rounding=ROUND_HALF_UP):,}"


def usd(amount):
    """Render dollars: cents when exact, else to a hundredth of a cent (KIE bills fractions)."""
    amount = Decimal(amount)
    return _dollars(amount, 2 if amount == amount.quantize(Decimal("0.01")) else 4)


@register.filter
def credits_usd(credits, usd_per_credit):
    """Render `credits` at the base rate: {{ price.credits|credits_usd:settings.usd_per_credit }} → $0.04."""
    if credits in (None, "") or usd_per_credit in (None, ""):
        return ""
    return usd(Decimal(credits) * Decimal(usd_per_credit))


@register.filter
def cents_usd(cents):
    """Render integer cents as dollars: 2500 → $25.00."""
    return _dollars(Decimal(cents) / 100, 2)


@register.filter
def per_credit_usd(pack):
    """Render what one credit of a pack costs: $25.00 for 2600 credits → $0.0096."""
    return _dollars(Decimal(pack.price_cents) / 100 / pack.credits, 4)


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
