"""Reads of the catalogue: what pages, the API and the admin show. Constant queries per call."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from artio.memo import memo_get

from .models import AIModel, CatalogSettings, CreditPack, Family, Price, PriceChange, PriceUnit
from .pricing import discounted

CENT = Decimal("0.01")
MILLI_CENT = Decimal("0.0001")


def catalog_settings_get():
    """Return the money knobs (the one CatalogSettings row; the seed migration creates it)."""
    return CatalogSettings.load()


def models_active():
    """Return active models in catalogue order, with their prices prefetched (2 queries)."""
    return AIModel.objects.filter(is_active=True).prefetch_related(
        Prefetch("prices", queryset=Price.objects.order_by("credits", "variant"))
    )


def model_get_active(*, slug):
    """Return the active model with this slug (prices prefetched), or raise AIModel.DoesNotExist."""
    return models_active().get(slug=slug)


# The memo name of the catalogue: catalog.services and the admin bump it on every model or price write.
CATALOG = "catalog"


def model_for_charge(*, slug):
    """Return the active model with this slug and its prices prefetched, or None.

    What every quote and charge reads, so it is kept in memory until the next catalogue edit
    (artio/memo.py): treat the instance as read-only, other requests share it.
    """
    return memo_get(CATALOG, slug, lambda: models_active().filter(slug=slug).first())


def model_paused_notice(*, slug):
    """Return what to tell a user who asked for a paused model ("… is paused: why. Use X instead."),
    or "" when `slug` is active or not paused. Read only after the active lookup missed: one query."""
    model = (
        AIModel.objects.filter(slug=slug, is_active=False)
        .exclude(paused_reason="")
        .select_related("use_instead")
        .first()
    )
    if model is None:
        return ""
    notice = f"{model.name} is paused: {model.paused_reason.rstrip('.')}."
    if model.use_instead is not None and model.use_instead.is_active:
        notice += f" Use {model.use_instead.name} ({model.use_instead.slug}) instead."
    return notice


@dataclass(frozen=True)
class FamilyGroup:
    family: str
    label: str
    models: list


def models_for_pricing():
    """Return active models grouped by family, in catalogue order: a list of FamilyGroup (2 queries)."""
    groups = {}
    labels = dict(Family.choices)
    for model in models_active():
        if model.family not in groups:
            groups[model.family] = FamilyGroup(model.family, labels.get(model.family, model.family), [])
        groups[model.family].models.append(model)
    return list(groups.values())


def credit_packs_active():
    """Return the credit packs on sale, in the order staff set (then cheapest first)."""
    return list(CreditPack.objects.filter(is_active=True))


def credits_usd(*, credits, settings):
    """Return what `credits` Artio credits are worth at the base retail rate, in USD (Decimal)."""
    return Decimal(credits) * settings.usd_per_credit


def kie_cost_usd(*, kie_credits, settings):
    """Return what `kie_credits` cost us at KIE, in USD (Decimal)."""
    return Decimal(kie_credits) * settings.usd_per_kie_credit


@dataclass(frozen=True)
class Margin:
    retail_usd: Decimal
    cost_usd: Decimal

    @property
    def margin_usd(self):
        return self.retail_usd - self.cost_usd

    @property
    def margin_percent(self):
        """Margin as a share of the retail value (None when the price is free)."""
        if not self.retail_usd:
            return None
        return (self.margin_usd * 100 / self.retail_usd).quantize(Decimal("0.1"))

    @property
    def below_cost(self):
        return self.margin_usd < 0


def price_margin(*, price, settings):
    """Return a price's margin: retail value at the base rate − KIE cost, both in USD."""
    return Margin(
        retail_usd=credits_usd(credits=price.credits, settings=settings),
        cost_usd=kie_cost_usd(kie_credits=price.kie_credits, settings=settings),
    )


def price_images_per_unit(price):
    """Return how many images one unit of the price buys (a task of Grok Imagine gives 6)."""
    return price.model.images_per_task if price.unit == PriceUnit.PER_TASK else 1


@dataclass(frozen=True)
class CostRow:
    price: Price
    kie_credits: Decimal  # per 1000 images
    cost_usd: Decimal
    retail_credits: Decimal
    retail_usd: Decimal

    @property
    def margin_usd(self):
        return self.retail_usd - self.cost_usd

    @property
    def loss_usd(self):
        return -self.margin_usd

    @property
    def below_cost(self):
        return self.margin_usd < 0


def cost_table(*, settings=None):
    """Return a CostRow per price of every model: KIE cost and retail value per 1000 images."""
    settings = settings or catalog_settings_get()
    rows = []
    prices = Price.objects.select_related("model").order_by("model__sort_order", "model__slug", "credits")
    for price in prices:
        per_image = Decimal(1000) / price_images_per_unit(price)
        kie = price.kie_credits * per_image
        retail = Decimal(price.credits) * per_image
        rows.append(
            CostRow(
                price=price,
                kie_credits=kie.quantize(CENT),
                cost_usd=kie_cost_usd(kie_credits=kie, settings=settings).quantize(CENT),
                retail_credits=retail.quantize(CENT),
                retail_usd=credits_usd(credits=retail, settings=settings).quantize(CENT),
            )
        )
    return rows


def price_for_account(*, credits, discount_percent):
    """Return the per-unit credits a partner with `discount_percent` pays (the quote's discount rule)."""
    return discounted(credits, discount_percent)


def price_history(*, model):
    """Return the model's price changes, newest first, with who made them."""
    return list(PriceChange.objects.filter(price__model=model).select_related("price", "changed_by"))


@dataclass(frozen=True)
class Showcase:
    """What the landing page shows: families with each model's cheapest image, and the cheapest overall."""

    families: list
    from_usd: Decimal | None  # the cheapest image in the catalogue, in USD at the base rate


def image_from_usd(*, model, settings):
    """Return the cheapest single image of `model` at the base rate, in USD, or None without prices.

    Uses the prefetched prices (models_active), so it costs no query.
    """
    per_image = [
        Decimal(p.credits) / (model.images_per_task if p.unit == PriceUnit.PER_TASK else 1)
        for p in model.prices.all()
    ]
    return min(per_image) * settings.usd_per_credit if per_image else None


def showcase_for_landing():
    """Return a Showcase: active models by family, each with `from_usd`, and the family's (3 queries)."""
    settings = catalog_settings_get()
    families = models_for_pricing()
    for group in families:
        for model in group.models:
            model.from_usd = image_from_usd(model=model, settings=settings)
    cheapest = [m.from_usd for g in families for m in g.models if m.from_usd is not None]
    return Showcase(families=families, from_usd=min(cheapest) if cheapest else None)
