"""Money shown to people: one formatter per unit, exactly."""

from decimal import Decimal

import pytest

from catalog.money import usd_cents, usd_dollars


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
    ("amount", "places", "text"),
    [
        (Decimal("0.04"), None, "$0.04"),
        (Decimal("0.0125"), None, "$0.0125"),  # KIE bills fractions of a cent
        (Decimal("1234.5"), None, "$1,234.50"),
        (Decimal("-0.005"), None, "-$0.0050"),
        (Decimal("0.00961538"), 4, "$0.0096"),
        (Decimal("-0.00001"), 4, "$0.0000"),  # no "-$0.0000"
    ],
)
def test_usd_dollars_shows_cents_or_hundredths_of_a_cent(amount, places, text):
    assert usd_dollars(amount, places=places) == text
