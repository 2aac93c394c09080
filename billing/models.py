"""Accounts, the append-only credit ledger, and Stripe top-ups."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Plan
from catalog.money import usd_cents


class FrozenCause(models.TextChoices):
    NONE = "", "—"
    STAFF = "staff", "Staff"
    DISPUTE = "dispute", "Payment dispute"


class Account(models.Model):
    """A user's credit balance. `balance` equals the sum of the account's ledger at every commit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account")
    balance = models.BigIntegerField(default=0)
    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.FREE)
    frozen = models.BooleanField(default=False)
    frozen_reason = models.CharField(max_length=255, blank=True)
    # Who froze it: a won dispute lifts only a dispute's freeze, never one staff set.
    frozen_cause = models.CharField(max_length=10, choices=FrozenCause.choices, blank=True, default="")
    # One Stripe Customer per account, created once on first subscribe.
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Automatic top-up: when a charge leaves the balance below the threshold, buy the pack with the
    # saved card. "Armed" means the balance has been at or above the threshold since the last one:
    # the charge that takes it below disarms it with a compare-and-swap, so one crossing buys once.
    auto_topup_enabled = models.BooleanField(default=False)
    auto_topup_threshold = models.PositiveIntegerField(default=0)
    auto_topup_pack = models.ForeignKey(
        "catalog.CreditPack", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_topup_monthly_limit_cents = models.PositiveIntegerField(
        "automatic top-ups per calendar month (cents, UTC)", default=0
    )
    auto_topup_armed = models.BooleanField(default=True)
    auto_topup_last_at = models.DateTimeField(null=True, blank=True)
    # Why it was turned off (a declined card, the month's ceiling reached), shown on the billing page.
    auto_topup_stopped_reason = models.CharField(max_length=255, blank=True)
    # The card saved at a top-up checkout ("save this card for automatic top-ups"), on our Customer.
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    # Low-balance e-mail: one per crossing below `low_balance_alert_at`, re-armed once back above it.
    low_balance_alert_at = models.PositiveIntegerField(null=True, blank=True)
    low_balance_armed = models.BooleanField(default=True)

    def __str__(self):
        return f"{self.user} ({self.balance} credits)"


class LedgerKind(models.TextChoices):
    SIGNUP_BONUS = "signup_bonus", "Sign-up bonus"
    TOPUP = "topup", "Top-up"
    GENERATION_CHARGE = "generation_charge", "Generation"
    GENERATION_REFUND = "generation_refund", "Generation refund"
    REFUND_CLAWBACK = "refund_clawback", "Payment refunded"
    DISPUTE_CLAWBACK = "dispute_clawback", "Payment disputed"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"
    ADJUSTMENT = "adjustment", "Adjustment"
    SUBSCRIPTION_GRANT = "subscription_grant", "Monthly plan credits"


class LedgerImmutable(Exception):
    """An attempt to change or remove a ledger row; corrections are new rows."""


_APPEND_ONLY = "Ledger rows are append-only: post a correcting row instead."


class LedgerQuerySet(models.QuerySet):
    """Ledger queries that can read and insert, never change or remove rows."""

    def update(self, **kwargs):
        raise LedgerImmutable(_APPEND_ONLY)

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutable(_APPEND_ONLY)

    def delete(self):
        raise LedgerImmutable(_APPEND_ONLY)

    # The deletion collector's fast path bypasses delete(); PROTECT keeps it away, this makes sure.
    def _raw_delete(self, using):
        raise LedgerImmutable(_APPEND_ONLY)


class LedgerEntry(models.Model):
    """One balance change. Rows are only ever inserted; corrections are new rows.

    The ORM refuses updates and deletes here; on PostgreSQL a trigger (migration 0003) refuses them
    for every client.
    """

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
    # The top-up a payment row (top-up, refund, dispute) belongs to, for receipts and links.
    topup = models.ForeignKey(
        "billing.TopUp", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        # Django's internal lookups (related objects, refresh) use the guarded queryset too.
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="ledger_once_per_kind_reference"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=~Q(reference=""), name="ledger_reference_required"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_account_recent")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount:+d} → {self.balance_after}"

    def save(self, **kwargs):
        if not self._state.adding:
            raise LedgerImmutable(_APPEND_ONLY)
        # A new instance given an existing pk would otherwise UPDATE that row; insert or fail instead.
        kwargs["force_insert"] = True
        return super().save(**kwargs)

    def delete(self, **kwargs):
        raise LedgerImmutable(_APPEND_ONLY)


class BillingSettings(models.Model):
    """Billing knobs staff edit in the admin, one row (pk=1)."""

    signup_bonus_credits = models.PositiveIntegerField(
        default=20, help_text="Credits granted once when a new user verifies their e-mail address (0 = none)."
    )
    topup_min_cents = models.PositiveIntegerField(
        "minimum custom top-up (cents)", default=500, help_text="Stripe's own minimum is 50 cents."
    )
    topup_max_cents = models.PositiveIntegerField("maximum custom top-up (cents)", default=50_000)

    class Meta:
        verbose_name = verbose_name_plural = "billing settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="billing_settings_singleton"),
            models.CheckConstraint(
                condition=Q(topup_min_cents__gte=50), name="topup_min_at_least_stripe_min"
            ),
            models.CheckConstraint(
                condition=Q(topup_max_cents__gte=models.F("topup_min_cents")), name="topup_max_not_below_min"
            ),
        ]

    def __str__(self):
        return "Billing settings"

    @classmethod
    def load(cls):
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class TopUpStatus(models.TextChoices):
    CREATED = "created", "Created"
    PENDING = "pending", "Awaiting payment"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class DisputeStatus(models.TextChoices):
    NONE = "", "—"
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class TopUp(models.Model):
    """One purchase of credits. Created before the Stripe Checkout Session; the source of truth."""

    public_id = models.CharField(max_length=40, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="topups")
    pack = models.ForeignKey(
        "catalog.CreditPack", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(max_length=100)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    credits = models.PositiveIntegerField()
    # The rate this purchase was made at, kept so later price changes never alter it.
    usd_per_credit = models.DecimalField("USD per credit", max_digits=12, decimal_places=8)
    status = models.CharField(max_length=10, choices=TopUpStatus.choices, default=TopUpStatus.CREATED)
    stripe_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    # Cumulative, as Stripe reports it (charge.amount_refunded); refunds may arrive before payment.
    refunded_cents = models.PositiveIntegerField(default=0)
    # Credits of this top-up taken back so far (refunds and disputes), net of dispute reversals.
    clawed_credits = models.PositiveIntegerField(default=0)
    dispute_id = models.CharField(max_length=255, blank=True, db_index=True)
    dispute_status = models.CharField(max_length=10, choices=DisputeStatus.choices, blank=True, default="")
    # Set when something needs a human (e.g. Stripe's amount differs from ours): never credited silently.
    problem = models.CharField(max_length=255, blank=True)
    # Where to send the user after paying (a local URL, checked when stored).
    next_url = models.CharField(max_length=2000, blank=True)
    # Sandbox only: the simulated Stripe side's record that "Pay" was pressed.
    sandbox_paid = models.BooleanField(default=False)
    # Bought by automatic top-up: an off-session PaymentIntent on the saved card, no Checkout.
    automatic = models.BooleanField(default=False)
    # The user asked at checkout to keep this card for automatic top-ups.
    save_card = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "top-up"
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gte=50), name="topup_amount_at_least_50"),
            models.CheckConstraint(condition=Q(credits__gte=1), name="topup_credits_positive"),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=models.F("amount_cents")), name="topup_refund_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(clawed_credits__lte=models.F("credits")), name="topup_clawback_within_credits"
            ),
        ]

    def __str__(self):
        return f"{self.public_id} {self.amount_display} → {self.credits} credits ({self.status})"

    @property
    def amount_display(self):
        return usd_cents(self.amount_cents)

    @property
    def refunded_display(self):
        return usd_cents(self.refunded_cents)

    @property
    def has_receipt(self):
        """Only a paid top-up has a receipt; an abandoned or failed checkout took no money."""
        return self.status == TopUpStatus.PAID or self.paid_at is not None


class StripeEvent(models.Model):
    """Every Stripe event id we received, stored once; a repeat delivery finds it here and stops."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    payload = models.JSONField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self):
        return f"{self.event_id} {self.type}"


# --- Subscriptions --------------------------------------------------------------------------------


class SubscriptionPlan(models.Model):
    """A paid monthly plan staff sell (Premium, and room for more); `tier` is what it unlocks."""

    slug = models.SlugField(
        max_length=40, unique=True, help_text="Posted by the subscribe form, e.g. premium."
    )
    name = models.CharField(max_length=60)
    tier = models.CharField(
        max_length=10, choices=Plan.choices, default=Plan.PREMIUM, help_text="The catalogue plan it unlocks."
    )
    price_cents = models.PositiveIntegerField("monthly price (cents)")
    currency = models.CharField(max_length=3, default="usd")
    monthly_credits = models.PositiveIntegerField(help_text="Credits granted with every paid month.")
    stripe_price_id = models.CharField(
        "Stripe Price id",
        max_length=255,
        blank=True,
        help_text="A recurring monthly Price in Stripe; blank on the seeded Premium: STRIPE_PREMIUM_PRICE.",
    )
    is_active = models.BooleanField("on sale", default=True)
    description = models.CharField(max_length=255, blank=True)
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "price_cents"]
        constraints = [
            models.CheckConstraint(condition=Q(price_cents__gte=50), name="subscription_plan_price_min"),
            models.CheckConstraint(condition=~Q(tier="free"), name="subscription_plan_tier_paid"),
        ]

    def __str__(self):
        return f"{self.name} ({usd_cents(self.price_cents)}/month)"

    @property
    def price_display(self):
        return usd_cents(self.price_cents)

    @property
    def price_id(self):
        """Return the Stripe Price to subscribe to: its own, or STRIPE_PREMIUM_PRICE for the seeded plan."""
        if self.stripe_price_id:
            return self.stripe_price_id
        return settings.STRIPE_PREMIUM_PRICE if self.slug == "premium" else ""


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, mirrored as Stripe reports them."""

    INCOMPLETE = "incomplete", "Awaiting first payment"
    INCOMPLETE_EXPIRED = "incomplete_expired", "First payment never made"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Payment failed"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"
    CANCELED = "canceled", "Canceled"


class Subscription(models.Model):
    """The latest state Stripe told us of one subscription (newest by Stripe's own timestamps).

    Events come twice, late and in any order, so each snapshot carries `state_at` (the event's
    `created`) and an older one never overwrites a newer; `canceled` is final, as in Stripe.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.INCOMPLETE
    )
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # Since when a renewal has been failing (the failed invoice's time); None once paid again.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # Stripe's `created` of the event the status came from; older news never overwrites it.
    state_at = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.stripe_subscription_id} {self.plan.slug} ({self.status})"


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Awaiting payment"
    FAILED = "failed", "Payment failed"
    PAID = "paid", "Paid"


class SubscriptionInvoice(models.Model):
    """One invoice of a subscription; a paid one grants the plan's monthly credits once.

    Refunds and disputes are kept cumulatively, as on a TopUp, so they may arrive before the payment.
    """

    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subscription_invoices")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="invoices")
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN)
    billing_reason = models.CharField(max_length=40, blank=True)
    amount_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    # The plan's credits when the invoice was paid: later edits of the plan never change a grant.
    credits = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    hosted_invoice_url = models.URLField(max_length=2000, blank=True)
    invoice_pdf = models.URLField(max_length=2000, blank=True)
    refunded_cents = models.PositiveIntegerField(default=0)
    clawed_credits = models.PositiveIntegerField(default=0)
    dispute_id = models.CharField(max_length=255, blank=True, db_index=True)
    dispute_status = models.CharField(max_length=10, choices=DisputeStatus.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(clawed_credits__lte=models.F("credits")), name="invoice_clawback_within_credits"
            ),
        ]

    def __str__(self):
        return f"{self.stripe_invoice_id} {usd_cents(self.amount_cents)} ({self.status})"

    @property
    def amount_display(self):
        return usd_cents(self.amount_cents)


# --- Spend per API key ----------------------------------------------------------------------------


class KeySpend(models.Model):
    """Credits spent through one API key in one calendar month (UTC), against its monthly cap.

    Moved only by a conditional upsert in the charge's transaction (services.key_spend_take), so
    concurrent creates can never take it past the cap; a refund gives its share back.
    """

    api_key = models.ForeignKey("artio.ApiKey", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the calendar month (UTC).")
    credits = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "month"], name="key_spend_once_per_month"),
            models.CheckConstraint(condition=Q(credits__gte=0), name="key_spend_not_negative"),
        ]

    def __str__(self):
        return f"key {self.api_key_id} {self.month:%Y-%m}: {self.credits}"


class KeyCharge(models.Model):
    """Which key (and month) paid for a generation, so its refund gives the spend back once."""

    reference = models.CharField(max_length=255, unique=True, help_text="The generation's public id.")
    spend = models.ForeignKey(KeySpend, on_delete=models.CASCADE, related_name="charges")
    credits = models.PositiveIntegerField()
    returned = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(returned__lte=models.F("credits")), name="key_charge_return_within_credits"
            ),
        ]

    def __str__(self):
        return f"{self.reference}: {self.credits} ({self.returned} returned)"
