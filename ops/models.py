"""Reconciliation mismatches, alerts and their settings."""

from django.db import models  # noqa: F401
