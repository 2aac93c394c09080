"""Reconciliation mismatches, alerts and their settings."""

from django.conf import settings
from django.db import models
from django.db.models import Q


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
