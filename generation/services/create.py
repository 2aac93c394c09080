"""Quote and create generations: validate, check uploads, charge and create in one transaction."""

from django.db import transaction

from billing.models import LedgerKind
from billing.services import (
    AccountFrozen,
    InsufficientCredits,
    account_for_user,
    credits_charge,
)
from catalog import pricing
from catalog.models import AIModel, Plan
from catalog.schemas import InputInvalid, content_filter_optional_for, validate_input

from ..models import Generation, public_id_new
from . import enqueue
from .errors import (
    AccountFrozenError,
    InputError,
    InsufficientCreditsError,
    ModelNotFound,
    PlanRequired,
    ProviderUnavailable,
)
from .pause import dispatch_is_paused
from .uploads import image_fields, uploads_check, uploads_send, with_uploads


def _model_get(*, slug):
    model = AIModel.objects.filter(slug=slug, is_active=True).prefetch_related("prices").first()
    if model is None:
        raise ModelNotFound(f"There is no model called {slug!r}.")
    return model


def _plan_check(*, model, account):
    if Plan.rank(account.plan) < Plan.rank(model.min_plan):
        needed, current = Plan(model.min_plan).label, Plan(account.plan).label
        raise PlanRequired(
            f"{model.name} needs the {needed} plan; you are on {current}.",
            details={"required_plan": model.min_plan, "plan": account.plan},
        )


def _input_validate(*, model, data, user):
    switchable = content_filter_optional_for(model=model, user=user)
    try:
        return validate_input(model.input_schema, data, content_filter_switchable=switchable)
    except InputInvalid as exc:
        raise InputError("Some options are not valid; see each field.", details=exc.errors) from exc


def _quote(*, model, data, account):
    try:
        return pricing.generation_quote(
            model=model, data=data, discount_percent=account.discount_percent, prices=list(model.prices.all())
        )
    except pricing.PriceNotFound as exc:
        field_name = model.variant_field or "input"
        raise InputError(
            "This model has no price for these options.", details={field_name: ["No price for this option."]}
        ) from exc


def generation_quote(*, user, model_slug, data):
    """Return the catalog Quote for this user running `model_slug` on `data`; charge nothing."""
    model = _model_get(slug=model_slug)
    account = account_for_user(user=user)
    _plan_check(model=model, account=account)
    data = _input_validate(model=model, data=data, user=user)
    return _quote(model=model, data=data, account=account)


def generation_quote_preview(*, user, model_slug, data):
    """Return (quote, errors) for a half-filled form: the price even while, say, the prompt is empty.

    Only the fields that set the price (count and variant) must be valid; other errors come back in
    `errors` for the page to show next to the button. The charge itself always re-validates everything.
    """
    model = _model_get(slug=model_slug)
    account = account_for_user(user=user)
    _plan_check(model=model, account=account)
    try:
        switchable = content_filter_optional_for(model=model, user=user)
        filled = validate_input(model.input_schema, data, content_filter_switchable=switchable)
        errors = {}
    except InputInvalid as exc:
        errors = exc.errors
        priced = {model.count_field, model.variant_field} - {""}
        bad = {name: msgs for name, msgs in errors.items() if name in priced}
        if bad:
            raise InputError("Some options are not valid; see each field.", details=bad) from exc
        filled = {name: value for name, value in data.items() if name in priced}
    return _quote(model=model, data=filled, account=account), errors


def generation_create(
    *, user, model_slug, data, source="web", webhook_url="", idempotency_key="", uploads=None
):
    """Validate, charge and create a generation, and queue its dispatch (seen by workers on commit).

    Raises GenerationError (nothing charged) for an unknown model, a plan too low, bad input, a
    frozen account, too few credits, or dispatch paused. `uploads` ({field: [UploadedFile]}) are web
    users' image inputs; they are checked, then sent to KIE's file upload, and their URLs go in the input.
    """
    model = _model_get(slug=model_slug)
    account = account_for_user(user=user)
    _plan_check(model=model, account=account)
    if dispatch_is_paused():
        raise ProviderUnavailable(
            "Image generation is paused for a moment; nothing was charged. Try again soon."
        )
    if not isinstance(data, dict):
        raise InputError("The input must be an object.", details={"input": ["Must be a JSON object."]})
    uploads = {name: list(files) for name, files in (uploads or {}).items() if files}
    checked = _input_check_all(model=model, data=data, uploads=uploads, user=user)
    quote = _quote(model=model, data=checked, account=account)
    if account.frozen:
        raise AccountFrozenError(str(AccountFrozen(reason=account.frozen_reason)))
    if account.balance < quote.credits:
        raise _insufficient(required=quote.credits, balance=account.balance)
    if uploads:
        urls = uploads_send(uploads=uploads, fields=image_fields(model.input_schema))
        checked = _input_validate(
            model=model,
            data=with_uploads(data=data, schema=model.input_schema, uploads=uploads, urls=urls),
            user=user,
        )
    try:
        return _charge_and_create(
            user=user,
            account=account,
            model=model,
            quote=quote,
            checked=checked,
            source=source,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
        )
    except InsufficientCredits as exc:
        raise _insufficient(required=exc.required, balance=exc.balance) from exc
    except AccountFrozen as exc:
        raise AccountFrozenError(str(exc)) from exc


def _input_check_all(*, model, data, uploads, user):
    """Return the validated input, or raise InputError with every mistake, uploads included.

    Placeholders stand in for the upload URLs, so everything the user can get wrong is found
    before anything is uploaded or charged.
    """
    errors = uploads_check(fields=image_fields(model.input_schema), uploads=uploads)
    try:
        checked = validate_input(
            model.input_schema,
            with_uploads(data=data, schema=model.input_schema, uploads=uploads),
            content_filter_switchable=content_filter_optional_for(model=model, user=user),
        )
    except InputInvalid as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise InputError("Some options are not valid; see each field.", details=errors)
    return checked


def _charge_and_create(*, user, account, model, quote, checked, source, webhook_url, idempotency_key):
    """Charge, create the row with its price snapshot, and queue its dispatch: one transaction."""
    public_id = public_id_new()
    with transaction.atomic():
        credits_charge(
            account_id=account.pk,
            amount=quote.credits,
            reference=public_id,
            kind=LedgerKind.GENERATION_CHARGE,
            description=f"{model.name} × {quote.images}",
        )
        generation = Generation.objects.create(
            public_id=public_id,
            owner=user,
            account=account,
            model=model,
            price=quote.price,
            unit_credits=quote.price.credits,
            credits_charged=quote.credits,
            images_requested=quote.images,
            discount_percent=quote.discount_percent,
            input=checked,
            source=source,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            priority=Plan.rank(account.plan),
        )
        enqueue.dispatch_enqueue_with_commit(generation.pk)
    return generation


def _insufficient(*, required, balance):
    return InsufficientCreditsError(
        f"This costs {required} credits; your balance is {balance}.",
        details={"required": required, "balance": balance},
    )
