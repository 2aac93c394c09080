"""django-q2 entry points of ops (schedules name these paths)."""

from . import alerts


def alerts_check():
    """The `ops-alerts-check` schedule (every 5 minutes, created by ops' first migration)."""
    return alerts.alerts_check()
