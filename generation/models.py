"""Generations: one paid run of a KIE model, its result images, and the dispatcher's shared state."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .aspect import aspect_ratio_parse

# Crockford's base32: no I, L, O, U, so ids read aloud and typed by hand survive.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def public_id_new():
    """Return a fresh public id: "gen_" and 26 random base32 characters (130 bits)."""
    return "gen_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


# The owner may cancel a job once it is this late: 3× the model's typical time, and at least 2 minutes.
SLOW_JOB_FACTOR = 3
SLOW_JOB_MIN_SECONDS = 120


def callback_token_new():
    return secrets.token_urlsafe(24)


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Generating"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (Status.QUEUED, Status.SUBMITTED, Status.RUNNING)
TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED)


class Source(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"


class Generation(models.Model):
    """One paid run of a model. Money fields are a snapshot taken when it was charged."""

    public_id = models.CharField(max_length=30, unique=True, default=public_id_new, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generations")
    account = models.ForeignKey("billing.Account", on_delete=models.PROTECT, related_name="generations")
    model = models.ForeignKey("catalog.AIModel", on_delete=models.PROTECT, related_name="generations")
    price = models.ForeignKey("catalog.Price", on_delete=models.PROTECT, related_name="generations")
    unit_credits = models.PositiveIntegerField(help_text="The price row's retail credits when charged.")
    credits_charged = models.PositiveIntegerField()
    images_requested = models.PositiveSmallIntegerField()
    discount_percent = models.PositiveSmallIntegerField(default=0)
    input = models.JSONField(help_text="Validated input, as given plus schema defaults.")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    refunded = models.BooleanField(default=False)
    refunded_credits = models.PositiveIntegerField(default=0)

    kie_task_id = models.CharField("KIE task id", max_length=100, blank=True, db_index=True)
    kie_record = models.JSONField("raw KIE record", null=True, blank=True)
    # What KIE billed for the task (creditsConsumed: fractional, 0 on failure) and its cost in USD at the
    # rate in force when read: wholesale beside retail, per job, for ops' reconciliation. Null: not reported.
    kie_credits_billed = models.DecimalField(
        "KIE credits billed", max_digits=12, decimal_places=4, null=True, blank=True
    )
    kie_cost_usd = models.DecimalField(
        "KIE cost (USD)", max_digits=12, decimal_places=6, null=True, blank=True
    )
    callback_token = models.CharField(max_length=64, unique=True, default=callback_token_new, editable=False)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)

    source = models.CharField(max_length=5, choices=Source.choices, default=Source.WEB)
    webhook_url = models.URLField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    # The owner's trash: deleted_at hides it from every view of theirs at once (and its image URLs);
    # ARTIO_TRASH_DAYS later, once finished, the purge deletes its images and sets purged_at. The
    # row stays for the ledger and staff.
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Moved to the trash by its owner.")
    purged_at = models.DateTimeField(null=True, blank=True, help_text="Images deleted for good.")
    # The owner's heart in the library: a flag on the row, so the favourites filter is one index.
    is_favourite = models.BooleanField("favourite", default=False)

    # Dispatcher bookkeeping: higher priority goes first (the account's plan rank when charged);
    # a worker "leases" a queued generation until `claimed_until` while it talks to KIE, which also
    # serves as the back-off after a transient KIE error.
    priority = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # When KIE's callback last said "task changed". Lets a submit that was still recording the task
    # id when the callback came (a very fast task) see it and re-read, instead of waiting for the poller.
    callback_at = models.DateTimeField(null=True, blank=True)
    images_stored_at = models.DateTimeField(null=True, blank=True)
    # Set (compare-and-swap) just before createTask and cleared when its answer is recorded. Still
    # set long after means a worker died mid-call: KIE may have the task, so the callback may adopt
    # it, and only after a grace period is it sent again (and counted in possible_duplicate_sends).
    sending_at = models.DateTimeField(null=True, blank=True)
    possible_duplicate_sends = models.PositiveSmallIntegerField(
        default=0, help_text="createTask calls sent again while KIE may already have had the task."
    )
    # A re-read is queued and has not started: more callbacks for the task enqueue nothing more.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits_charged__gte=1), name="generation_charged_positive"),
            models.CheckConstraint(
                condition=Q(refunded_credits__lte=models.F("credits_charged")),
                name="generation_refund_at_most_charge",
            ),
            models.CheckConstraint(
                condition=Q(refunded=False, refunded_credits=0) | Q(refunded=True, refunded_credits__gte=1),
                name="generation_refund_consistent",
            ),
        ]
        indexes = [
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="generation_gallery",
                condition=Q(deleted_at__isnull=True),
            ),
            # The trash page and the purge sweep read only what is in the trash: a small index.
            models.Index(
                fields=["owner", "-deleted_at"],
                name="generation_trash",
                condition=Q(deleted_at__isnull=False, purged_at__isnull=True),
            ),
            models.Index(
                fields=["deleted_at"],
                name="generation_purge_due",
                condition=Q(deleted_at__isnull=False, purged_at__isnull=True),
            ),
            # The library's favourites filter, read in the gallery's order.
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="generation_favourites",
                condition=Q(deleted_at__isnull=True, is_favourite=True),
            ),
            # The library's status filter (e.g. "failed"), in the gallery's order.
            models.Index(
                fields=["owner", "status", "-created_at", "-id"],
                name="generation_owner_status",
                condition=Q(deleted_at__isnull=True),
            ),
            # The Generate form's "your last settings for this model".
            models.Index(fields=["owner", "model", "-created_at"], name="generation_last_settings"),
            models.Index(fields=["status", "-priority", "id"], name="generation_dispatch_order"),
        ]

    def __str__(self):
        return self.public_id

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("generation-detail", args=[self.public_id])

    @property
    def is_terminal(self):
        return self.status in TERMINAL_STATUSES

    @property
    def purge_due_at(self):
        """Return when the trash purge may delete it for good (None unless it is in the trash)."""
        if self.deleted_at is None or self.purged_at is not None:
            return None
        return self.deleted_at + timedelta(days=settings.ARTIO_TRASH_DAYS)

    @property
    def prompt(self):
        return str((self.input or {}).get("prompt", ""))

    @property
    def aspect_ratio(self):
        """Return the requested shape as CSS wants it ("16 / 9"), for placeholders while it runs."""
        data = self.input or {}
        width, height = aspect_ratio_parse(data.get("aspect_ratio") or data.get("image_size") or "1:1")
        return f"{width} / {height}"

    @property
    def cancellable_at(self):
        """Return when the job counts as stuck, so its owner may cancel it for a refund."""
        seconds = max(SLOW_JOB_MIN_SECONDS, SLOW_JOB_FACTOR * self.model.typical_seconds)
        return self.created_at + timedelta(seconds=seconds)

    @property
    def refund_due_at(self):
        """Return when the poller fails and refunds it unasked (None while queued: no deadline yet)."""
        if self.submitted_at is None:
            return None
        return self.submitted_at + timedelta(seconds=settings.KIE_DEADLINE_SECONDS)


def _image_path(instance, filename):
    return f"generations/{filename}"


class GenerationImage(models.Model):
    """One result image, copied into our storage (KIE's URLs expire)."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=_image_path, max_length=200)
    thumbnail = models.ImageField(upload_to=_image_path, max_length=200, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    content_type = models.CharField(max_length=50)
    bytes = models.PositiveIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["generation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "position"], name="generation_image_position_once"),
        ]
        # The media view finds an image by the path in its URL, on every image request.
        indexes = [
            models.Index(fields=["file"], name="generation_image_file"),
            models.Index(fields=["thumbnail"], name="generation_image_thumbnail"),
        ]

    def __str__(self):
        return f"{self.generation_id} #{self.position}"


class DispatchState(models.Model):
    """One row (pk=1): whether dispatch to KIE is paused, and which dispatcher loop holds the lease."""

    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # At most one dispatcher loop runs, across every worker and host: the one whose `dispatcher_id`
    # is here while `dispatcher_until` is in the future (taken and renewed by compare-and-swap).
    dispatcher_id = models.CharField(max_length=64, blank=True)
    dispatcher_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="dispatch_state_singleton")]

    def __str__(self):
        return "paused" if self.paused else "running"


class KieCreateSlot(models.Model):
    """One of the N createTask slots of the global rate limit "N per window".

    A slot may be taken once it was last used a full window ago; taking it is a compare-and-swap on
    `used_at`, so any number of workers on any number of hosts share the budget through the
    database (no Redis needed, works on SQLite and PostgreSQL). N slots each used at most once per
    window means at most N createTask calls in any window.
    """

    id = models.PositiveIntegerField(primary_key=True)
    used_at = models.FloatField(default=0.0, help_text="Unix time the slot was last taken.")

    def __str__(self):
        return f"slot {self.id}"


class WebhookDelivery(models.Model):
    """One attempt to POST a generation's terminal state to a partner's webhook URL."""

    account = models.ForeignKey("billing.Account", on_delete=models.CASCADE, related_name="+")
    generation_public_id = models.CharField(max_length=40, db_index=True)
    event_type = models.CharField(max_length=40)
    url = models.URLField(max_length=2000)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # A re-delivered task finds its attempt already claimed and sends nothing twice.
            models.UniqueConstraint(
                fields=["generation_public_id", "event_type", "attempt"], name="webhook_attempt_once"
            )
        ]
        indexes = [models.Index(fields=["account", "-created_at"], name="webhook_account_recent")]

    def __str__(self):
        return f"{self.event_type} {self.generation_public_id} #{self.attempt}"


class KieTaskSource(models.TextChoices):
    CREATE = "create", "createTask answer"
    ADOPT = "adopt", "adopted from a callback"
    CALLBACK = "callback", "callback"
    RECORD = "record", "recordInfo"


class KieTask(models.Model):
    """Every KIE task id we were given or saw, and what KIE billed for it.

    A generation normally has exactly one; a second is a duplicate send KIE may bill twice, and a
    task with no generation is one we pay for and sell nothing (ops' reconciliation lists both).
    Fed by createTask answers, callbacks (for unknown tasks too, once recordInfo confirms them)
    and recordInfo reads.
    """

    task_id = models.CharField("KIE task id", max_length=100, unique=True)
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.PROTECT, related_name="kie_tasks"
    )
    kie_model = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=20, blank=True, help_text="KIE's state at the last read.")
    # creditsConsumed of the finished task (fractional, 0 on failure) and its cost at the
    # USD-per-KIE-credit rate in force when KIE first reported it. Null: not reported yet.
    credits_billed = models.DecimalField(
        "KIE credits billed", max_digits=12, decimal_places=4, null=True, blank=True
    )
    cost_usd = models.DecimalField("KIE cost (USD)", max_digits=12, decimal_places=6, null=True, blank=True)
    source = models.CharField(max_length=10, choices=KieTaskSource.choices, help_text="How we first saw it.")
    first_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    seen_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="KIE's completeTime.")

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        verbose_name = "KIE task"

    def __str__(self):
        return self.task_id

    @property
    def finished(self):
        return self.state in ("success", "fail")


class Collection(models.Model):
    """A named set of the owner's generations ("Album covers"); a generation may be in several."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=80)
    generations = models.ManyToManyField(Generation, related_name="collections", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="collection_name_once_per_owner"),
        ]

    def __str__(self):
        return self.name


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


EXPORT_ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


def export_public_id_new():
    """Return an export's id for its download link: 144 random bits, URL-safe (24 characters)."""
    return secrets.token_urlsafe(18)


class Export(models.Model):
    """ "Export all my images": a zip built in the background in storage, linked by e-mail for 7 days."""

    public_id = models.CharField(max_length=40, unique=True, default=export_public_id_new, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    file = models.CharField(max_length=200, blank=True, help_text="The zip's name in storage.")
    bytes = models.PositiveBigIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One export at a time per user, enforced by the database against a double click.
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(status__in=["queued", "running"]),
                name="export_one_active_per_owner",
            ),
        ]
        indexes = [models.Index(fields=["owner", "-created_at"], name="export_owner_recent")]

    def __str__(self):
        return f"export {self.public_id} ({self.status})"

    @property
    def is_active(self):
        return self.status in EXPORT_ACTIVE

    @property
    def is_expired(self):
        return self.expires_at is not None and timezone.now() >= self.expires_at
