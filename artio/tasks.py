"""django-q2 entry points of the project package: the Idempotency-Key cleanup."""

from .idempotency import idempotency_records_purge


def idempotency_purge():
    """Delete Idempotency-Key records past their 24-hour retention (scheduled hourly)."""
    return idempotency_records_purge()
