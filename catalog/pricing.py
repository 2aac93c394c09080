"""The one pricing function: what a generation costs. Quotes, the Generate button and charges all call it."""

from dataclasses import dataclass

from .models import AIModel, Price, PriceUnit


class PriceNotFound(Exception):
    """The model has no price for the requested variant (a catalogue mistake, not user error)."""


@dataclass(frozen=True)
class Quote:
    model: AIModel
    price: Price
    images: int  # images the task will return
    base_credits: int  # before any partner discount
    discount_percent: int
    credits: int  # what will be charged

    @property
    def unit_credits(self):
        return self.price.credits


def discounted(credits, percent):
    """Return `credits` after a partner discount of `percent`, rounded up, never below 1.

    The one discount rule: quotes, charges and the API's price list all use it.
    """
    percent = max(0, min(int(percent or 0), 100))
    if not percent:
        return credits
    return max(1, -(-credits * (100 - percent) // 100))


def images_requested(model, data):
    """Return how many images a task with this (validated) input returns."""
    if model.count_field:
        return int(data.get(model.count_field) or _schema_default(model, model.count_field) or 1)
    return model.images_per_task


def variant_requested(model, data):
    if not model.variant_field:
        return ""
    return str(data.get(model.variant_field) or _schema_default(model, model.variant_field) or "")


def _schema_default(model, field):
    return model.input_schema.get("properties", {}).get(field, {}).get("default")


def generation_quote(*, model, data, discount_percent=0, prices=None):
    """Return the Quote for running `model` on validated input `data`.

    Credits are an integer: unit price × images for per-image prices, then the partner discount
    rounded up (we never charge less than the discounted amount, and never less than 1 credit).
    `prices` lets a caller that prefetched `model.prices` avoid a query.
    """
    variant = variant_requested(model, data)
    candidates = prices if prices is not None else model.prices.all()
    price = next((p for p in candidates if p.variant == variant), None)
    if price is None:
        price = next((p for p in candidates if p.variant == ""), None)
    if price is None:
        raise PriceNotFound(f"{model.slug} has no price for variant {variant!r}")
    images = images_requested(model, data)
    base = price.credits * (images if price.unit == PriceUnit.PER_IMAGE else 1)
    discount = max(0, min(int(discount_percent or 0), 100))
    credits = discounted(base, discount)
    return Quote(
        model=model,
        price=price,
        images=images,
        base_credits=base,
        discount_percent=discount,
        credits=credits,
    )
