"""Money shown to people: one formatter per unit, exactly."""

from decimal import Decimal

import pytest

from catalog.money import usd_cents, usd_dollars, usd_unit


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (1005, "$10.05"),
        (123450, "$1,234.50"),
        (-5, "-$0.05"),
        (10**17 + 1, "$1,000,000,000,000,000.01"),  # past float's exact range
    ],
)
def test_usd_cents_shows_cents_exactly(cents, text):
    assert usd_cents(cents) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.04"), "$0.04"),
        (Decimal("0.0125"), "$0.0125"),  # KIE bills fractions of a cent
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("-0.005"), "-$0.0050"),
        (Decimal("0.00961538"), "$0.0096"),
        (Decimal("0.0100"), "$0.01"),  # never padded to "$0.0100"
        (Decimal("-0.00001"), "$0.00"),  # no "-$0.00"
    ],
)
def test_usd_dollars_shows_cents_or_hundredths_of_a_cent(amount, text):
    assert usd_dollars(amount) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.01"), "1¢"),
        (Decimal("0.01000"), "1¢"),
        (Decimal("0.00961538"), "0.96¢"),
        (Decimal("0.005"), "0.5¢"),
        (Decimal("0.125"), "12.5¢"),
        (Decimal("0.999999"), "$1.00"),
        (Decimal("1.2"), "$1.20"),
        (Decimal("0"), "0¢"),
    ],
)
def test_usd_unit_writes_a_price_of_one_thing_in_cents_below_a_dollar(amount, text):
    assert usd_unit(amount) == text
