"""django-q2 entry points of ops (schedules name these paths)."""

from . import alerts, rollup


def alerts_check():
    """The `ops-alerts-check` schedule (every 5 minutes, created by ops' first migration)."""
    return alerts.alerts_check()


def rollup_nightly():
    """The `ops-rollup` schedule (daily at 00:45 UTC, after `ops-reconcile` has read yesterday's bills)."""
    return rollup.rollup_scheduled()
