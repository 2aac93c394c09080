"""Accounts, the append-only credit ledger, and Stripe top-ups."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Plan


class Account(models.Model):
    """A user's credit balance. `balance` equals the sum of the account's ledger at every commit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account")
    balance = models.BigIntegerField(default=0)
    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.FREE)
    frozen = models.BooleanField(default=False)
    frozen_reason = models.CharField(max_length=255, blank=True)
    discount_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Partner discount applied to every quote and charge (0–100)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_percent__lte=100), name="account_discount_at_most_100"
            ),
        ]

    def __str__(self):
        return f"{self.user} ({self.balance} credits)"

    @property
    def can_spend(self):
        return not self.frozen and self.balance > 0


class LedgerKind(models.TextChoices):
    SIGNUP_BONUS = "signup_bonus", "Sign-up bonus"
    TOPUP = "topup", "Top-up"
    GENERATION_CHARGE = "generation_charge", "Generation"
    GENERATION_REFUND = "generation_refund", "Generation refund"
    REFUND_CLAWBACK = "refund_clawback", "Payment refunded"
    DISPUTE_CLAWBACK = "dispute_clawback", "Payment disputed"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"
    ADJUSTMENT = "adjustment", "Adjustment"


class LedgerEntry(models.Model):
    """One balance change. Rows are only ever inserted; corrections are new rows."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger")
    amount = models.BigIntegerField(help_text="Signed: credits added (+) or taken (−).")
    kind = models.CharField(max_length=30, choices=LedgerKind.choices)
    # What this row is about (Stripe object id, generation id, staff note); unique per kind so a
    # payment credits once and a failed generation refunds once.
    reference = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="ledger_once_per_kind_reference"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=~Q(reference=""), name="ledger_reference_required"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_account_recent")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount:+d} → {self.balance_after}"
