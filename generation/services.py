"""The request side of generation: quote, create (charge), image uploads, and owner and staff actions.

Views, API views, the admin and commands call these. The worker side (dispatch, outcome, sweep)
is pipeline.py. Errors are ArtioError (artio/errors.py): nothing was charged when one is raised.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from artio.errors import ArtioError
from artio.memo import memo_get
from artio.selectors import discount_percent_for_user
from billing.autotopup import balance_watch
from billing.models import LedgerKind
from billing.selectors import account_get
from billing.services import account_for_user, credits_charge, key_spend_take, spend_check
from catalog import pricing
from catalog.models import Plan
from catalog.schemas import InputInvalid, content_filter_optional_for, image_fields, validate_input
from catalog.selectors import model_for_charge, model_paused_notice

from . import kie, pipeline, storage
from .models import TERMINAL_STATUSES, Generation, GenerationImage, Status, public_id_new

logger = logging.getLogger("generation.services")


class InputError(ArtioError):
    code, http_status = "invalid_input", 400


class ModelNotFound(ArtioError):
    code, http_status = "not_found", 404


class ModelPaused(ArtioError):
    code, http_status = "model_paused", 503


class PlanRequired(ArtioError):
    code, http_status = "plan_required", 403


class ProviderUnavailable(ArtioError):
    code, http_status = "provider_unavailable", 503


class NotCancellable(ArtioError):
    code, http_status = "not_cancellable", 409


# --- Image inputs of web users: check each upload, then pass it to KIE's file upload -------


def uploads_check(*, fields, uploads):
    """Return {field: [messages]} for uploads that are too large or not images."""
    errors = {}
    limit = settings.ARTIO_MAX_UPLOAD_BYTES
    for name, files in uploads.items():
        if name not in fields:
            errors.setdefault(name, []).append("This model takes no image here.")
            continue
        if len(files) > fields[name]:
            errors.setdefault(name, []).append(
                f"At most {fields[name]} image{'s' if fields[name] > 1 else ''} (this has {len(files)})."
            )
        for upload in files:
            if upload.size > limit:
                errors.setdefault(name, []).append(
                    f"{upload.name} is larger than {limit // (1024 * 1024)} MB."
                )
                continue
            try:
                storage.image_inspect(_read(upload))
            except storage.ImageInvalid as exc:
                errors.setdefault(name, []).append(f"{upload.name}: {exc}")
    return errors


def _read(upload):
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    return content


def with_uploads(*, data, schema, uploads, urls=None):
    """Return `data` with each uploaded field set to its URLs (placeholders until uploaded)."""
    merged = dict(data)
    props = schema.get("properties") or {}
    for name, files in uploads.items():
        if not files or name not in props:
            continue
        links = urls[name] if urls else [f"https://upload.invalid/{name}/{i}" for i in range(len(files))]
        merged[name] = links[0] if props[name].get("type") == "string" else links
    return merged


def uploads_send(*, uploads, fields):
    client = kie.kie_client()
    urls = {}
    for name, files in uploads.items():
        if not files or name not in fields:
            continue
        urls[name] = []
        for upload in files:
            content = _read(upload)
            content_type, ext, _w, _h = storage.image_inspect(content)
            try:
                urls[name].append(
                    client.upload_file(content=content, filename=f"input.{ext}", content_type=content_type)
                )
            except kie.KieError as exc:
                logger.warning("KIE upload failed: %r", exc)
                pipeline.dispatch_pause_on_alert(exc)
                raise ProviderUnavailable(
                    "We could not pass your image to the image service; please try again shortly."
                ) from exc
    return urls


# --- Quote and create -------------------------------------------------------------------------


def _model_get(*, slug):
    model = model_for_charge(slug=slug)
    if model is None:
        notice = model_paused_notice(slug=slug)
        if notice:
            raise ModelPaused(notice)
        raise ModelNotFound(f"There is no model called {slug!r}.")
    return model


def _plan_check(*, model, account):
    if not model.allows(account.plan):
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


def _quote(*, model, data, user):
    try:
        return pricing.generation_quote(
            model=model,
            data=data,
            discount_percent=discount_percent_for_user(user=user),
            prices=list(model.prices.all()),
        )
    except pricing.PriceNotFound as exc:
        field_name = model.variant_field or "input"
        raise InputError(
            "This model has no price for these options.", details={field_name: ["No price for this option."]}
        ) from exc


def generation_quote(*, user, model_slug, data, account=None):
    """Return the catalog Quote for this user running `model_slug` on `data`; charge nothing.

    `account`: the user's account if the caller has read it already (the API's PartnerRequired).
    """
    model = _model_get(slug=model_slug)
    account = account or account_get(user=user)
    _plan_check(model=model, account=account)
    data = _input_validate(model=model, data=data, user=user)
    return _quote(model=model, data=data, user=user)


def generation_quote_preview(*, user, model_slug, data):
    """Return (quote, errors) for a half-filled form: the price even while, say, the prompt is empty.

    Only the fields that set the price (count and variant) must be valid; other errors come back in
    `errors` for the page to show next to the button. The charge itself always re-validates everything.
    """
    model = _model_get(slug=model_slug)
    account = account_get(user=user)
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
    return _quote(model=model, data=filled, user=user), errors


def _dispatch_paused():
    """Return True while dispatch to KIE is paused: from memory, until pause or resume bumps it."""
    return memo_get("dispatch_pause", None, pipeline.dispatch_is_paused)


def generation_create(
    *,
    user,
    model_slug,
    data,
    source="web",
    webhook_url="",
    idempotency_key="",
    uploads=None,
    account=None,
    on_created=None,
    api_key=None,
    staff_test_model=None,
):
    """Validate, charge and create a generation, and queue its dispatch (seen by workers on commit).

    Raises ArtioError (nothing charged) for an unknown model, a plan too low, bad input, a
    frozen account, too few credits, or dispatch paused. `uploads` ({field: [UploadedFile]}) are web
    users' image inputs; they are checked, then sent to KIE's file upload, and their URLs go in the input.

    `account` is the user's account as the caller already read it (billing.selectors.account_get,
    maybe unsaved); it is read only when not given. `on_created(generation)` runs inside the write
    transaction, after the row exists: what it writes commits with the charge, or neither does.
    `api_key` (the partner API's ApiKey) counts the charge against its monthly cap (SpendCapReached).
    `staff_test_model`: the admin's "test generation" runs this AIModel, active or not and whatever
    the staff member's plan, charged to their account like any other generation.
    """
    staff_test = staff_test_model is not None and user.is_staff
    model = staff_test_model if staff_test else _model_get(slug=model_slug)
    if account is None or account.pk is None:
        account = account_for_user(user=user)
    if not staff_test:
        _plan_check(model=model, account=account)
    if _dispatch_paused():
        raise ProviderUnavailable(
            "Image generation is paused for a moment; nothing was charged. Try again soon."
        )
    if not isinstance(data, dict):
        raise InputError("The input must be an object.", details={"input": ["Must be a JSON object."]})
    uploads = {name: list(files) for name, files in (uploads or {}).items() if files}
    checked = _input_check_all(model=model, data=data, uploads=uploads, user=user)
    quote = _quote(model=model, data=checked, user=user)
    # Answer a frozen or short account before the slow upload; the charge itself decides.
    spend_check(account=account, amount=quote.credits)
    if uploads:
        urls = uploads_send(uploads=uploads, fields=image_fields(model.input_schema))
        checked = _input_validate(
            model=model,
            data=with_uploads(data=data, schema=model.input_schema, uploads=uploads, urls=urls),
            user=user,
        )
    generation = _charge_and_create(
        user=user,
        account=account,
        model=model,
        quote=quote,
        checked=checked,
        source=source,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
        on_created=on_created,
        api_key=api_key,
    )
    # Billing's low-balance watch (automatic top-up, alert): nothing to do unless the account uses them.
    balance_watch(account=account)
    return generation


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


def _images_known_empty(generation):
    """Record, as a prefetch would, that the new row has no images: reading them costs nothing
    (not even compiling a query that an empty queryset would still build)."""
    empty = GenerationImage.objects.none()
    empty._result_cache, empty._prefetch_done = [], True
    generation._prefetched_objects_cache = {"images": empty}


def _charge_and_create(
    *, user, account, model, quote, checked, source, webhook_url, idempotency_key, on_created, api_key=None
):
    """Create the row with its price snapshot, queue its dispatch, then charge: one transaction.

    Every read, validation and the quote happened before. The charge comes last because its
    UPDATE locks the account row until commit (on SQLite the whole database is locked from BEGIN
    IMMEDIATE): after it, only the ledger row's INSERT. If it refuses, everything rolls back.
    """
    public_id = public_id_new()
    with transaction.atomic():
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
        _images_known_empty(generation)
        pipeline.dispatch_enqueue_with_commit()
        if on_created is not None:
            on_created(generation)
        if api_key is not None:
            key_spend_take(api_key=api_key, amount=quote.credits, reference=public_id)
        credits_charge(
            account_id=account.pk,
            amount=quote.credits,
            reference=public_id,
            kind=LedgerKind.GENERATION_CHARGE,
            description=f"{model.name} × {quote.images}",
        )
    return generation


# --- What staff and owners do to an existing generation ------------------------------------------


def generation_recheck(*, generation_id):
    """Staff: re-read from KIE now (the admin's "re-check with KIE"); return the new status."""
    return pipeline.generation_refresh(generation_id=generation_id)


def generation_cancel(*, generation_id):
    """Staff: fail an unfinished generation and refund it (the admin's "fail and refund")."""
    return pipeline.generation_fail(generation_id=generation_id, code="cancelled")


def generation_cancel_by_owner(*, generation):
    """Owner: fail and refund their `generation` (fetched owner-scoped) once it is stuck past its
    slow-job threshold.

    Raises NotCancellable when it already ended (a success is never undone) or is not slow yet.
    Returns the generation, failed and refunded.
    """
    if generation.is_terminal:
        raise NotCancellable("This generation has already finished.")
    if timezone.now() < generation.cancellable_at:
        raise NotCancellable("This generation is not late yet; please give it a little longer.")
    # The same compare-and-swap as every other failure: if it has just succeeded, this refunds nothing.
    cancelled = pipeline.generation_fail(generation_id=generation.pk, code="cancelled_by_user")
    generation.refresh_from_db()
    if not cancelled and generation.status == Status.SUCCEEDED:
        raise NotCancellable("It has just finished; your images are ready.")
    return generation


def generation_rerun_quote(*, generation, user):
    """Return the credits re-running `generation` would cost `user` now, or None if it cannot run.

    From memory (the model and its prices, the partner discount): no query per result card.
    """
    model = model_for_charge(slug=generation.model.slug)
    if model is None:
        return None
    try:
        return _quote(model=model, data=dict(generation.input or {}), user=user).credits
    except ArtioError:
        return None


def generation_rerun(*, generation):
    """Create a new generation with the same owner, model and input as `generation`."""
    return generation_create(
        user=generation.owner, model_slug=generation.model.slug, data=dict(generation.input)
    )


# --- The owner's trash: delete, restore, purge --------------------------------------------------


class NotPurgeable(ArtioError):
    code, http_status = "not_purgeable", 409


def generation_trash(*, generation):
    """Move the owner's `generation` to the trash: gone from their views and its image URLs at once.

    An unfinished one stays in the pipeline (it may still succeed or be refunded); the purge waits
    until it has finished. Return True if this call moved it.
    """
    return (
        Generation.objects.filter(pk=generation.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
        == 1
    )


def generation_restore(*, generation):
    """Take `generation` back out of the trash, unless it was purged; return True if this call did."""
    return (
        Generation.objects.filter(pk=generation.pk, deleted_at__isnull=False, purged_at__isnull=True).update(
            deleted_at=None
        )
        == 1
    )


def generation_purge(*, generation_id, due_before=None):
    """Delete a trashed, finished generation's images for good (files, then rows); mark it purged.

    With `due_before`, only if it was deleted before then. The row, its input and its ledger rows
    stay. The row lock (and purged_at after it) keeps a late result from storing images behind the
    purge's back (pipeline._images_store checks purged_at). A storage error rolls back; the files
    already deleted stay deleted and the next sweep finishes the job. Return True if this call did it.
    """
    due = Q(pk=generation_id, deleted_at__isnull=False, purged_at__isnull=True, status__in=TERMINAL_STATUSES)
    if due_before is not None:
        due &= Q(deleted_at__lt=due_before)
    with transaction.atomic():
        if not list(Generation.objects.select_for_update().filter(due).values_list("pk", flat=True)):
            return False
        images = list(GenerationImage.objects.filter(generation_id=generation_id))
        for image in images:
            storage.image_delete(fields={"file": image.file.name, "thumbnail": image.thumbnail.name})
        GenerationImage.objects.filter(pk__in=[image.pk for image in images]).delete()
        Generation.objects.filter(pk=generation_id).update(purged_at=timezone.now())
    logger.info("generation %s purged (%s images)", generation_id, len(images))
    return True


def generation_delete_forever(*, generation):
    """Purge the owner's trashed `generation` now, without waiting for ARTIO_TRASH_DAYS.

    Raises NotPurgeable while it is still running: its images may yet arrive, so it can only go for
    good once it has finished.
    """
    if not generation.is_terminal:
        raise NotPurgeable("It is still generating; you can delete it for good once it has finished.")
    return generation_purge(generation_id=generation.pk)


def generations_purge(*, max_seconds=30.0, limit=500):
    """Purge every finished generation that has been in the trash for ARTIO_TRASH_DAYS; return the count."""
    started = time.monotonic()
    cutoff = timezone.now() - timedelta(days=settings.ARTIO_TRASH_DAYS)
    due = (
        Generation.objects.filter(deleted_at__lt=cutoff, purged_at__isnull=True, status__in=TERMINAL_STATUSES)
        .order_by("deleted_at")
        .values_list("pk", flat=True)[:limit]
    )
    purged = 0
    for pk in list(due):
        if time.monotonic() - started > max_seconds:
            break  # the next hourly run takes the rest
        purged += int(generation_purge(generation_id=pk, due_before=cutoff))
    return purged
