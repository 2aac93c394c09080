"""Reconciliation mismatches, alerts and their settings."""

from decimal import Decimal

from django.db import models
from django.db.models import Q

# --- Overview and alerts: staff-set thresholds and the alerts they raise -------------------------


class AlertSettings(models.Model):
    """The alert thresholds staff set in the admin: one row (pk=1)."""

    kie_balance_threshold = models.DecimalField(
        "KIE balance threshold (KIE credits)",
        max_digits=14,
        decimal_places=2,
        default=Decimal("5000"),
        help_text="Alert when KIE's credit balance falls below this.",
    )
    kie_min_days = models.DecimalField(
        "minimum days of burn",
        max_digits=6,
        decimal_places=1,
        default=Decimal("3"),
        help_text="Alert when the balance lasts fewer days than this at the last 7 days' burn rate.",
    )
    failure_rate_percent = models.PositiveSmallIntegerField(
        "failure-rate threshold (%)",
        default=50,
        help_text="Alert when at least this share of a model's jobs finished in the last hour failed.",
    )
    failure_min_jobs = models.PositiveIntegerField(
        "minimum jobs",
        default=10,
        help_text="…counting only models with at least this many jobs finished in the last hour.",
    )
    auto_pause = models.BooleanField(
        "pause failing models automatically",
        default=False,
        help_text=(
            "A failing model is made inactive; users who reach it are told why and pointed to its "
            "'use instead' model. Staff reactivate it in the model's admin page."
        ),
    )

    class Meta:
        verbose_name = verbose_name_plural = "alert settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="alert_settings_singleton"),
            models.CheckConstraint(condition=Q(failure_rate_percent__lte=100), name="alert_failure_rate_pct"),
            models.CheckConstraint(condition=Q(failure_min_jobs__gte=1), name="alert_failure_min_jobs"),
        ]

    def __str__(self):
        return "Alert settings"

    @classmethod
    def load(cls):
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class AlertKind(models.TextChoices):
    KIE_BALANCE_LOW = "kie_balance_low", "KIE balance low"
    MODEL_FAILING = "model_failing", "Model failing"
    MISMATCHES = "mismatches", "Reconciliation mismatches"


class Alert(models.Model):
    """One condition staff should know about, open while it holds. At most one open alert per (kind,
    subject): the scheduled check refreshes it instead of raising (and e-mailing) it again, and closes
    it when the condition clears."""

    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    subject = models.CharField(max_length=100, blank=True, help_text="The model's slug, or empty.")
    message = models.CharField(max_length=500)
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"], condition=Q(resolved_at__isnull=True), name="alert_open_once"
            ),
        ]
        indexes = [models.Index(fields=["resolved_at"], name="alert_open")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.message}"

    @property
    def is_open(self):
        return self.resolved_at is None
