"""Compare: one prompt on up to four models side by side, one ordinary generation (and charge) each.

All or nothing: every model is validated and priced first, the total is checked against the
balance, and the generations are created in one outer transaction, so if any charge is refused
(a concurrent spend drained the balance meanwhile) every one of them rolls back. Nothing is
charged unless every model starts.
"""

from dataclasses import dataclass, field

from django.db import transaction

from artio.errors import ArtioError
from billing.services import InsufficientCredits, account_for_user, spend_check
from catalog.models import Kind
from catalog.schemas import image_fields

from . import selectors, services

MAX_MODELS = 4
# Models that draw from a prompt alone: the ones a comparison can run.
COMPARABLE_KINDS = {Kind.TEXT_TO_IMAGE}


class CompareError(ArtioError):
    code, http_status = "invalid_input", 400


@dataclass
class CompareQuote:
    """What a comparison costs: one row per model (its quote or why it cannot run), the total credits,
    and the expected wait (the slowest model's typical time: they run side by side)."""

    rows: list = field(default_factory=list)
    total: int = 0
    seconds: int = 0
    errors: dict = field(default_factory=dict)

    @property
    def ok(self):
        return bool(self.rows) and not self.errors


def comparable_models():
    """Return the active models a comparison offers, in catalogue order."""
    return [
        m
        for m in selectors.models_for_picker()
        if m.kind in COMPARABLE_KINDS and not image_fields(m.input_schema or {})
    ]


def compare_input(model, *, prompt, aspect_ratio=""):
    """Return the input for `model`: the prompt, the shape where the model offers it, and the
    schema's defaults for the other fields it requires (as its form would start)."""
    schema = model.input_schema or {}
    props = schema.get("properties") or {}
    data = {"prompt": prompt}
    for name in schema.get("required") or []:
        if name != "prompt" and "default" in props.get(name, {}):
            data[name] = props[name]["default"]
    if aspect_ratio and aspect_ratio in (props.get("aspect_ratio", {}).get("enum") or []):
        data["aspect_ratio"] = aspect_ratio
    return data


def _slugs_check(model_slugs):
    slugs = list(dict.fromkeys(s for s in model_slugs if s))
    if not slugs:
        raise CompareError("Choose at least one model.", details={"models": ["Choose at least one model."]})
    if len(slugs) > MAX_MODELS:
        message = f"Choose at most {MAX_MODELS} models (you chose {len(slugs)})."
        raise CompareError(message, details={"models": [message]})
    return slugs


def compare_quote(*, user, prompt, model_slugs, aspect_ratio="", preview=False):
    """Return the CompareQuote for running `prompt` on each model; charge nothing.

    `preview` prices a half-filled form (an empty prompt is fine); otherwise each model's input
    must be valid. Raises CompareError for no model or too many.
    """
    slugs = _slugs_check(model_slugs)
    result = CompareQuote()
    by_slug = {m.slug: m for m in comparable_models()}
    for slug in slugs:
        model = by_slug.get(slug)
        if model is None:
            result.errors[slug] = "This model cannot be compared."
            continue
        data = compare_input(model, prompt=prompt, aspect_ratio=aspect_ratio)
        try:
            if preview:
                quote, _errors = services.generation_quote_preview(user=user, model_slug=slug, data=data)
            else:
                quote = services.generation_quote(user=user, model_slug=slug, data=data)
        except ArtioError as exc:
            reasons = [m for msgs in exc.details.values() if isinstance(msgs, list) for m in msgs]
            result.errors[slug] = (
                " ".join(reasons) if exc.code == "invalid_input" and reasons else exc.message
            )
            continue
        result.rows.append((model, quote))
        result.total += quote.credits
        result.seconds = max(result.seconds, model.typical_seconds)
    return result


def compare_create(*, user, prompt, model_slugs, aspect_ratio=""):
    """Start one generation per model for `prompt`; return them in the order asked.

    Raises CompareError (a model that cannot run, with each reason in `details`),
    InsufficientCredits (the total is more than the balance) or the first create's ArtioError;
    in every case nothing was charged.
    """
    if not (prompt or "").strip():
        raise CompareError("Write a prompt first.", details={"prompt": ["Write a prompt first."]})
    quote = compare_quote(user=user, prompt=prompt, model_slugs=model_slugs, aspect_ratio=aspect_ratio)
    if quote.errors:
        raise CompareError("Some models cannot run this prompt; nothing was charged.", details=quote.errors)
    account = account_for_user(user=user)
    try:
        spend_check(account=account, amount=quote.total)
    except InsufficientCredits as exc:
        raise InsufficientCredits(required=quote.total, balance=account.balance) from exc
    generations = []
    with transaction.atomic():
        for model, _quote in quote.rows:
            generations.append(
                services.generation_create(
                    user=user,
                    model_slug=model.slug,
                    data=compare_input(model, prompt=prompt, aspect_ratio=aspect_ratio),
                    account=account,
                )
            )
    return generations
