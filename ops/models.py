"""Reconciliation mismatches, alerts and their settings."""

from decimal import Decimal

from django.conf import settings
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


# --- Reconciliation: what KIE billed against what we expected ----------------------------------


class MismatchKind(models.TextChoices):
    BILLED_OVER_PRICE = "billed_over_price", "KIE billed more than the price row"
    BILLED_FAILED_OR_REFUNDED = "billed_failed_or_refunded", "KIE billed a failed or refunded job"
    TASK_WITHOUT_GENERATION = "task_without_generation", "KIE task with no generation"
    GENERATION_WITH_MANY_TASKS = "generation_with_many_tasks", "Generation with more than one KIE task"


class Mismatch(models.Model):
    """One difference `manage.py reconcile` found between what KIE billed and what we expected.

    Found again by every run over its day (matched on day, kind and subject), so re-running a day
    updates the amounts instead of adding rows. Staff resolve it with a note; who and when is kept.
    """

    day = models.DateField(db_index=True, help_text="The UTC day reconciled.")
    kind = models.CharField(max_length=40, choices=MismatchKind.choices)
    # What it is about: the generation's public id, or the KIE task id of a task with no generation.
    subject = models.CharField(max_length=120)
    generation = models.ForeignKey(
        "generation.Generation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model = models.ForeignKey(
        "catalog.AIModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kie_task_ids = models.TextField("KIE task ids", blank=True, help_text="One per line.")
    billed_credits = models.DecimalField("KIE credits billed", max_digits=14, decimal_places=4, default=0)
    expected_credits = models.DecimalField(
        "KIE credits expected", max_digits=14, decimal_places=4, default=0, help_text="Price row × images."
    )
    # The money at issue: credits KIE billed beyond what it should have, and their cost in USD.
    amount_credits = models.DecimalField("at issue (KIE credits)", max_digits=14, decimal_places=4)
    amount_usd = models.DecimalField("at issue (USD)", max_digits=14, decimal_places=6)
    detail = models.CharField(max_length=300)
    found_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "kind", "subject"]
        verbose_name_plural = "mismatches"
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "subject"], name="mismatch_once_per_day"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | ~Q(resolution_note=""),
                name="mismatch_resolved_with_note",
            ),
        ]
        indexes = [models.Index(fields=["day"], name="mismatch_open", condition=Q(resolved_at__isnull=True))]

    def __str__(self):
        return f"{self.day} {self.get_kind_display()}: {self.subject}"

    @property
    def resolved(self):
        return self.resolved_at is not None


# --- Overview rollup: finished UTC days, per model (ops/rollup.py) -----------------------------------


class RolledDay(models.Model):
    """A UTC day whose generations are summed in ModelDay. A day with no generations has this row and
    no ModelDay, so "rolled, empty" is told apart from "not rolled yet"."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        return f"{self.day} rolled at {self.rolled_at:%Y-%m-%d %H:%M} UTC"


class ModelDay(models.Model):
    """One model's generations created on one finished UTC day, summed: what the overview reads instead
    of the rows. Derived data: `manage.py ops_rollup` rebuilds it from the generations at any time."""

    day = models.DateField()
    model = models.ForeignKey("catalog.AIModel", on_delete=models.CASCADE, related_name="+")
    generations = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    credits_charged = models.BigIntegerField(default=0)
    credits_refunded = models.BigIntegerField(default=0)
    kie_credits = models.DecimalField("KIE credits billed", max_digits=18, decimal_places=4, default=0)
    kie_cost_usd = models.DecimalField("KIE cost (USD)", max_digits=18, decimal_places=6, default=0)
    cost_reported = models.PositiveIntegerField(default=0, help_text="Generations with a KIE cost.")
    # Successes' durations (created → completed) counted per bucket of ops.rollup.BUCKET_EDGES,
    # {"bucket index": count}, sparse: enough for a period's median within one bucket's width.
    durations = models.JSONField(default=dict)

    class Meta:
        ordering = ["-day", "model_id"]
        constraints = [models.UniqueConstraint(fields=["day", "model"], name="model_day_once")]

    def __str__(self):
        return f"{self.day} model {self.model_id}: {self.generations} generations"
