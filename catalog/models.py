"""The catalogue: the KIE models Artio sells, their prices, and the money knobs staff edit."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from .money import usd_cents


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"

    @classmethod
    def rank(cls, plan):
        """Return the plan's position, so `rank(user_plan) >= rank(model.min_plan)` allows use."""
        return [cls.FREE, cls.STANDARD, cls.PREMIUM].index(plan)


class Family(models.TextChoices):
    IMAGEN = "imagen", "Google / Imagen"
    FLUX2 = "flux-2", "Flux-2"
    GPT_IMAGE = "gpt-image", "GPT Image"
    SEEDREAM = "seedream", "Seedream"
    QWEN = "qwen", "Qwen"
    GROK = "grok-imagine", "Grok Imagine"
    IDEOGRAM = "ideogram", "Ideogram"
    RECRAFT = "recraft", "Recraft"


class Kind(models.TextChoices):
    TEXT_TO_IMAGE = "text-to-image", "Text to image"
    IMAGE_TO_IMAGE = "image-to-image", "Image to image"
    EDIT = "edit", "Edit"
    UPSCALE = "upscale", "Upscale"
    REMOVE_BACKGROUND = "remove-background", "Remove background"


class AIModel(models.Model):
    """One KIE model as Artio sells it."""

    slug = models.CharField(max_length=100, unique=True, help_text="Public id, e.g. google/imagen4-fast.")
    kie_model = models.CharField(
        "KIE model id", max_length=100, unique=True, help_text="The id sent to KIE's createTask."
    )
    name = models.CharField(max_length=100)
    family = models.CharField(max_length=20, choices=Family.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    min_plan = models.CharField("minimum plan", max_length=10, choices=Plan.choices, default=Plan.FREE)
    is_active = models.BooleanField("active", default=True)
    sort_order = models.PositiveIntegerField(default=100)
    input_schema = models.JSONField(help_text="JSON Schema of the model's input, with honest types.")
    # Which input field, if any, sets the number of output images (e.g. num_images).
    count_field = models.CharField(max_length=50, blank=True)
    # Which input field, if any, selects the price variant (e.g. resolution, quality).
    variant_field = models.CharField(max_length=50, blank=True)
    # How many images one task returns when there is no count field (Grok Imagine returns 6).
    images_per_task = models.PositiveSmallIntegerField(default=1)
    typical_seconds = models.PositiveIntegerField(default=30, help_text="Typical time to a result.")
    content_filter_optional = models.BooleanField(
        "staff may turn the content filter off",
        default=False,
        help_text=(
            "KIE's content filter (nsfw_checker, safety checker) is always on for users. Tick to let "
            "staff accounts, and only them, switch it off for this model; our KIE account pays for "
            "and answers for every image."
        ),
    )

    # Paused (is_active off) by staff or by ops' failure-rate alert: users who reach it (a bookmark, the
    # API) are told why and which model to use instead, rather than "no such model".
    paused_reason = models.CharField(
        max_length=255,
        blank=True,
        help_text="Shown to users while the model is inactive, e.g. 'Failing often at KIE'.",
    )
    use_instead = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The model users are pointed to while this one is paused.",
    )

    # One example of what the model draws, shown in the model picker and on the landing page. Made at
    # seed time through the KIE sandbox (manage.py seed_examples), or uploaded by staff.
    sample_image = models.ImageField(upload_to="samples/", max_length=200, blank=True)

    class Meta:
        ordering = ["sort_order", "slug"]
        verbose_name = "model"
        constraints = [
            models.CheckConstraint(
                condition=Q(images_per_task__gte=1), name="model_images_per_task_positive"
            ),
        ]

    def __str__(self):
        return self.slug

    def allows(self, plan):
        """Return True when an account on `plan` may use this model (the one plan rule)."""
        return Plan.rank(plan) >= Plan.rank(self.min_plan)


class PriceUnit(models.TextChoices):
    PER_IMAGE = "image", "per image"
    PER_TASK = "task", "per task"


class Price(models.Model):
    """What one variant of a model costs us (KIE credits) and what we charge (Artio credits)."""

    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="prices")
    variant = models.CharField(
        max_length=50, blank=True, help_text="Value of the model's variant field (e.g. 1K), or empty."
    )
    kie_credits = models.DecimalField("KIE credits", max_digits=10, decimal_places=3)
    credits = models.PositiveIntegerField("retail credits")
    unit = models.CharField(max_length=10, choices=PriceUnit.choices, default=PriceUnit.PER_IMAGE)

    class Meta:
        ordering = ["model__sort_order", "model__slug", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["model", "variant"], name="price_one_per_variant"),
            models.CheckConstraint(condition=Q(credits__gte=1), name="price_credits_positive"),
            models.CheckConstraint(condition=Q(kie_credits__gte=0), name="price_kie_credits_not_negative"),
        ]

    def __str__(self):
        return f"{self.model.slug} {self.variant}".strip()


class PriceChange(models.Model):
    """One edit of a price: who, when, old → new. Only ever inserted."""

    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    old_credits = models.PositiveIntegerField(null=True, blank=True)
    new_credits = models.PositiveIntegerField()
    old_kie_credits = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    new_kie_credits = models.DecimalField(max_digits=10, decimal_places=3)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.price}: {self.old_credits} → {self.new_credits} credits"


class CatalogSettings(models.Model):
    """The money knobs, one row (pk=1), edited in the admin."""

    usd_per_kie_credit = models.DecimalField(
        "USD per KIE credit", max_digits=8, decimal_places=5, default=Decimal("0.005")
    )
    usd_per_credit = models.DecimalField(
        "base retail rate (USD per Artio credit)", max_digits=8, decimal_places=5, default=Decimal("0.01")
    )

    class Meta:
        verbose_name = verbose_name_plural = "catalogue settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="catalog_settings_singleton"),
            models.CheckConstraint(condition=Q(usd_per_kie_credit__gt=0), name="usd_per_kie_credit_positive"),
            models.CheckConstraint(condition=Q(usd_per_credit__gt=0), name="usd_per_credit_positive"),
        ]

    def __str__(self):
        return "Catalogue settings"

    @classmethod
    def load(cls):
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class CreditPack(models.Model):
    """A top-up offer: pay `price_cents`, receive `credits`."""

    name = models.CharField(max_length=50)
    price_cents = models.PositiveIntegerField()
    credits = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "price_cents"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_cents__gte=50), name="pack_price_at_least_stripe_minimum"
            ),
            models.CheckConstraint(condition=Q(credits__gte=1), name="pack_credits_positive"),
        ]

    def __str__(self):
        return f"{self.name}: {usd_cents(self.price_cents)} → {self.credits} credits"
