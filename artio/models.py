from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address; no username."""

    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = "user"

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name or self.email.split("@")[0]


class ApiKey(models.Model):
    """A partner's API key. Only its prefix and a SHA-256 of the whole key are stored.

    The key is `artio_<prefix>_<secret>`; the prefix finds the row, the hash proves the secret.
    A plain SHA-256 is enough because the secret is 32 random bytes (no guessing to slow down).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Credits this key may spend per calendar month (UTC); None: no cap. Billing counts the spend.
    monthly_credit_cap = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"artio_{self.prefix}_… ({self.name or 'unnamed'})"

    @property
    def is_active(self):
        return self.revoked_at is None


class PartnerSettings(models.Model):
    """A partner's API terms: the webhook signing secret, the request rate and the discount."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="partner")
    webhook_secret = models.CharField(max_length=80)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=120, help_text="API requests per minute allowed for each of this partner's keys."
    )
    discount_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Partner discount applied to every quote and charge (0–100)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "partner settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate_limit_per_minute__gte=1), name="partner_rate_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(discount_percent__lte=100), name="partner_discount_at_most_100"
            ),
        ]

    def __str__(self):
        return f"Partner settings of {self.user}"


class IdempotencyRecord(models.Model):
    """The first request made with an `Idempotency-Key`, and its response once it has one.

    The row is inserted (claimed) in its own committed transaction before the work starts, so the
    unique (user, key) constraint lets exactly one of many concurrent requests do the work.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and canonical body.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the current holder claimed it; a claim left by a crashed process is taken over later.
    locked_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_once_per_user_key")]

    def __str__(self):
        return f"{self.key} ({self.method} {self.path})"


class RateCounter(models.Model):
    """Requests counted against one limit (an API key's per-minute rate) in its current window.

    One row per limit, moved by a single atomic upsert (services.rate_counter_hit), so every web
    process, on every host, counts against the same number without a read-modify-write race.
    """

    name = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField()
    window_start = models.FloatField(help_text="Unix time the current window began.")

    def __str__(self):
        return f"{self.name}: {self.count}"
