"""Showing money: integer cents in, text out, with integer arithmetic (no float near money)."""


def usd(cents):
    """Return integer cents as dollars for people, e.g. 123450 → "$1,234.50", -5 → "-$0.05"."""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"
