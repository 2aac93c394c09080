"""Writes to the catalogue. Every retail or KIE price change leaves a PriceChange row."""

import math
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from jsonschema.exceptions import SchemaError

from artio.memo import memo_bump

from .models import AIModel, CatalogSettings, CreditPack, Price, PriceChange
from .schemas import kie_schema_problems, schema_check
from .seed import SEED_MODELS, SEED_PACKS
from .selectors import CATALOG


def _known(model_class, values):
    """Keep only the keys that are fields of `model_class` (a migration's model may be older)."""
    names = {f.name for f in model_class._meta.get_fields()}
    return {key: value for key, value in values.items() if key in names}


def _catalog_seed_with(*, AIModel, Price, PriceChange, CreditPack, CatalogSettings):
    """Load the seed through the given model classes (real ones, or a migration's historical ones).

    Create what is missing, change nothing that exists: a model is matched by slug, a price by
    (model, variant). Credit packs are created only while there are none at all, so packs staff
    deleted or renamed do not come back.
    """
    counts = {"models": 0, "prices": 0, "packs": 0, "settings": 0}
    with transaction.atomic():
        for entry in SEED_MODELS:
            defaults = _known(AIModel, {k: v for k, v in entry.items() if k not in ("slug", "prices")})
            model, created = AIModel.objects.get_or_create(slug=entry["slug"], defaults=defaults)
            counts["models"] += created
            existing = set(Price.objects.filter(model=model).values_list("variant", flat=True))
            for row in entry["prices"]:
                if row["variant"] in existing:
                    continue
                price = Price.objects.create(model=model, **_known(Price, row))
                # The first history row: where the price came from.
                PriceChange.objects.create(
                    price=price,
                    old_credits=None,
                    new_credits=price.credits,
                    old_kie_credits=None,
                    new_kie_credits=price.kie_credits,
                    note="Seed catalogue",
                )
                counts["prices"] += 1
        if not CreditPack.objects.exists():
            for pack in SEED_PACKS:
                CreditPack.objects.create(**_known(CreditPack, pack))
                counts["packs"] += 1
        _, created = CatalogSettings.objects.get_or_create(pk=1)
        counts["settings"] += created
    return counts


def catalog_seed():
    """Create the seed catalogue's missing models, prices, packs and settings; return what was created."""
    counts = _catalog_seed_with(
        AIModel=AIModel,
        Price=Price,
        PriceChange=PriceChange,
        CreditPack=CreditPack,
        CatalogSettings=CatalogSettings,
    )
    memo_bump(CATALOG)
    return counts


def catalog_seed_migration(apps, schema_editor):
    """Data-migration entry point: the same seed through historical models."""
    _catalog_seed_with(
        **{
            name: apps.get_model("catalog", name)
            for name in ("AIModel", "Price", "PriceChange", "CreditPack", "CatalogSettings")
        }
    )


def _retail_credits(value):
    """Return `value` as a positive whole number of credits, or raise ValidationError."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValidationError("Retail credits must be a whole number.", code="invalid")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError("Retail credits must be a whole number.", code="invalid") from None
    if number != number.to_integral_value():
        raise ValidationError("Retail credits must be a whole number, not a fraction.", code="invalid")
    if number < 1:
        raise ValidationError("Retail credits must be at least 1.", code="min_value")
    return int(number)


def _kie_credits(value):
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError("KIE credits must be a number.", code="invalid") from None
    if not number.is_finite() or number < 0:
        raise ValidationError("KIE credits cannot be negative.", code="min_value")
    return number.quantize(Decimal("0.001"))


def _history_add(*, price, old, new, changed_by, note):
    """Insert one PriceChange; `old` and `new` are (credits, kie_credits), `old` None for a new price."""
    old_credits, old_kie_credits = old or (None, None)
    return PriceChange.objects.create(
        price=price,
        changed_by=changed_by,
        old_credits=old_credits,
        new_credits=new[0],
        old_kie_credits=old_kie_credits,
        new_kie_credits=new[1],
        note=note[:200],
    )


def price_update(*, price, credits=None, kie_credits=None, changed_by, note=""):
    """Set a price's retail and/or KIE credits and record old → new in the same transaction.

    Return the PriceChange written, or None when nothing changed. Raise ValidationError for a
    retail price that is not a whole number ≥ 1 or a negative KIE price.
    """
    new_credits = None if credits is None else _retail_credits(credits)
    new_kie = None if kie_credits is None else _kie_credits(kie_credits)
    with transaction.atomic():
        # Lock the row so two staff editing at once each record the old value they replaced.
        current = Price.objects.select_for_update().get(pk=price.pk)
        target_credits = current.credits if new_credits is None else new_credits
        target_kie = current.kie_credits if new_kie is None else new_kie
        if target_credits == current.credits and target_kie == current.kie_credits:
            price.credits, price.kie_credits = current.credits, current.kie_credits
            return None
        Price.objects.filter(pk=current.pk).update(credits=target_credits, kie_credits=target_kie)
        change = _history_add(
            price=current,
            old=(current.credits, current.kie_credits),
            new=(target_credits, target_kie),
            changed_by=changed_by,
            note=note,
        )
        # Charges read prices from memory: the next one, in any process, must charge this price.
        memo_bump(CATALOG)
    price.credits, price.kie_credits = target_credits, target_kie
    return change


def retail_from_kie(*, kie_credits, factor):
    """Return ceil(KIE credits × factor), at least 1: the retail price a markup factor gives."""
    return max(1, math.ceil(Decimal(kie_credits) * Decimal(factor)))


def prices_set_retail_from_kie(*, prices, factor, changed_by):
    """Set each price's retail credits to ceil(KIE credits × factor); return how many changed."""
    factor = Decimal(str(factor))
    if not factor.is_finite() or factor <= 0:
        raise ValidationError("The factor must be a positive number.", code="invalid")
    changed = 0
    with transaction.atomic():
        for price in prices:
            change = price_update(
                price=price,
                credits=retail_from_kie(kie_credits=price.kie_credits, factor=factor),
                changed_by=changed_by,
                note=f"Retail = KIE credits × {factor} (rounded up)",
            )
            changed += change is not None
    return changed


def input_schema_clean(*, schema, count_field="", variant_field=""):
    """Raise ValidationError unless `schema` is a usable input schema naming the model's fields."""
    try:
        schema_check(schema)
    except SchemaError as exc:
        raise ValidationError(f"Input schema is not valid: {exc.message}", code="invalid_schema") from None
    problems = kie_schema_problems(schema)
    if problems:
        raise ValidationError([ValidationError(text, code="invalid_schema") for text in problems])
    properties = schema["properties"]
    for label, field in (("count field", count_field), ("variant field", variant_field)):
        if field and field not in properties:
            raise ValidationError(
                f"The {label} {field!r} is not a property of the input schema.", code="invalid_schema"
            )


def price_create(*, model, variant, kie_credits, credits, unit, changed_by, note="Created"):
    """Add a price to a model and its first history row (old values empty)."""
    credits = _retail_credits(credits)
    kie_credits = _kie_credits(kie_credits)
    with transaction.atomic():
        price = Price.objects.create(
            model=model, variant=variant, kie_credits=kie_credits, credits=credits, unit=unit
        )
        _history_add(price=price, old=None, new=(credits, kie_credits), changed_by=changed_by, note=note)
        memo_bump(CATALOG)
    return price


def price_details_set(*, price, variant, unit, changed_by):
    """Change what a price applies to (variant) and its unit, and record it in the price history.

    A unit change changes what users pay (per image ↔ per run), so it is kept like a money change:
    old → new in the note, who, when. Return the PriceChange, or None when nothing changed.
    """
    with transaction.atomic():
        current = Price.objects.select_for_update().get(pk=price.pk)
        edits = [
            f"{label} {old or '(none)'} → {new or '(none)'}"
            for label, old, new in (("variant", current.variant, variant), ("unit", current.unit, unit))
            if old != new
        ]
        if not edits:
            return None
        Price.objects.filter(pk=current.pk).update(variant=variant, unit=unit)
        memo_bump(CATALOG)
        money = (current.credits, current.kie_credits)
        change = _history_add(
            price=current, old=money, new=money, changed_by=changed_by, note="; ".join(edits)
        )
    price.variant, price.unit = variant, unit
    return change
