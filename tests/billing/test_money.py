"""Money shown to people: integer cents to text, exactly."""

import pytest

from billing.money import usd


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
def test_usd_shows_cents_exactly(cents, text):
    assert usd(cents) == text
