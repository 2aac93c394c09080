"""Writes of the generation pipeline: quote, create (charge), dispatch, refresh, succeed, fail.

The flow (DESIGN.md §5, docs/generation.md):

    generation_create   validate → charge + create in one transaction → enqueue dispatch on commit
    generations_dispatch  lease the best queued generation (plan priority, then age) → take a
                        global rate-limit slot → KIE createTask → queued→submitted (CAS)
    KIE callback / poller → generation_refresh: re-read recordInfo → store images → succeeded,
                        or → failed + refunded exactly once
    generations_poll    lost callbacks, deadlines, late successes, un-pausing

Every transition is a compare-and-swap on `status`, so a task delivered twice, a callback sent
twice, or a worker killed half-way ends in one outcome with one ledger effect.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerKind
from billing.services import (
    AccountFrozen,
    InsufficientCredits,
    account_for_user,
    credits_charge,
    credits_refund,
)
from catalog import pricing
from catalog.models import AIModel, Plan
from catalog.schemas import InputInvalid, kie_input, validate_input

from . import kie, ratelimit, storage
from .models import ACTIVE_STATUSES, DispatchState, Generation, GenerationImage, Status, public_id_new

logger = logging.getLogger(__name__)

# A worker holds a queued generation this long while it waits for a slot and calls createTask;
# equal to the queue timeout, so a killed worker's lease has expired before the task is re-delivered.
DISPATCH_LEASE_SECONDS = 60
# Transient createTask failures (429, 5xx, timeouts) are retried this many times, backing off.
DISPATCH_MAX_ATTEMPTS = 6
# Poll KIE for a submitted generation whose callback has not come after this long.
POLL_AFTER_SECONDS = 20
# KIE keeps results about 24 h: a late success after our deadline is still worth storing until then.
LATE_RESULT_HOURS = 24
WEBHOOK_TASK = "artio.tasks.partner_webhook_send"


# --- Errors -----------------------------------------------------------------------------------


class GenerationError(Exception):
    """A generation that cannot be quoted or created; nothing was charged."""

    code = "invalid_input"
    http_status = 400

    def __init__(self, message, *, details=None, code=None, http_status=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status


class InputError(GenerationError):
    code, http_status = "invalid_input", 400


class ModelNotFound(GenerationError):
    code, http_status = "not_found", 404


class PlanRequired(GenerationError):
    code, http_status = "plan_required", 403


class AccountFrozenError(GenerationError):
    code, http_status = "account_frozen", 403


class InsufficientCreditsError(GenerationError):
    code, http_status = "insufficient_credits", 402


class ProviderUnavailable(GenerationError):
    code, http_status = "provider_unavailable", 503


# Plain words for the failures users see on their cards.
ERROR_MESSAGES = {
    "deadline": "The model did not finish in time. Your credits were refunded.",
    "provider_error": "The image service kept failing, so we stopped trying. Your credits were refunded.",
    "rejected": "The image service refused this request. Your credits were refunded.",
    "generation_failed": "The model could not make this image. Your credits were refunded.",
    "result_invalid": "The model returned something that is not a usable image. Your credits were refunded.",
    "cancelled": "Cancelled by Artio staff. Your credits were refunded.",
}


# --- Dispatch pause ---------------------------------------------------------------------------


def dispatch_state():
    state, _ = DispatchState.objects.get_or_create(pk=1)
    return state


def dispatch_pause(*, reason):
    """Stop sending work to KIE (bad key, KIE out of credit) until staff or a credit check resumes."""
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=False).update(
        paused=True, reason=reason[:255], paused_at=timezone.now()
    )
    if changed:
        logger.error("KIE dispatch paused: %s", reason)
    return bool(changed)


def dispatch_resume():
    DispatchState.objects.get_or_create(pk=1)
    changed = DispatchState.objects.filter(pk=1, paused=True).update(paused=False, reason="", paused_at=None)
    if changed:
        logger.warning("KIE dispatch resumed")
        _enqueue_dispatch()
    return bool(changed)


def dispatch_is_paused():
    return DispatchState.objects.filter(pk=1, paused=True).exists()


# --- Quote and create -------------------------------------------------------------------------


def image_fields(schema):
    """Return {field: max_files} for the schema's image-URL inputs (uploads on the web form)."""
    found = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("type") == "string" and prop.get("format") == "uri":
            found[name] = 1
        elif prop.get("type") == "array" and (prop.get("items") or {}).get("format") == "uri":
            found[name] = int(prop.get("maxItems") or 16)
    return found


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


def _input_validate(*, model, data):
    try:
        return validate_input(model.input_schema, data)
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
    data = _input_validate(model=model, data=data)
    return _quote(model=model, data=data, account=account)


def _uploads_check(*, fields, uploads):
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


def _with_uploads(*, data, schema, uploads, urls=None):
    """Return `data` with each uploaded field set to its URLs (placeholders until uploaded)."""
    merged = dict(data)
    props = schema.get("properties") or {}
    for name, files in uploads.items():
        if not files or name not in props:
            continue
        links = urls[name] if urls else [f"https://upload.invalid/{name}/{i}" for i in range(len(files))]
        merged[name] = links[0] if props[name].get("type") == "string" else links
    return merged


def _uploads_send(*, uploads, fields):
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
                raise ProviderUnavailable(
                    "We could not pass your image to the image service; please try again shortly."
                ) from exc
    return urls


def _enqueue(func, *args):
    from django_q.tasks import async_task

    async_task(func, *args)


def generation_refresh_enqueue(*, generation_id):
    """Ask a worker to re-read the generation from KIE."""
    _enqueue("generation.tasks.generation_refresh", generation_id)


def generation_callback_received(*, generation_id):
    """Note KIE's "task changed" callback and have the task re-read (the body itself is not trusted)."""
    Generation.objects.filter(pk=generation_id).update(callback_at=timezone.now())
    generation_refresh_enqueue(generation_id=generation_id)


def _enqueue_dispatch(generation_id=None):
    _enqueue("generation.tasks.generation_dispatch", generation_id)


def generation_create(
    *, user, model_slug, data, source="web", webhook_url="", idempotency_key="", uploads=None
):
    """Validate, charge and create a generation, then enqueue its dispatch once committed.

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
    uploads = {name: list(files) for name, files in (uploads or {}).items() if files}
    if not isinstance(data, dict):
        raise InputError("The input must be an object.", details={"input": ["Must be a JSON object."]})
    fields = image_fields(model.input_schema)

    # Everything the user can get wrong is found before anything is uploaded or charged.
    errors = _uploads_check(fields=fields, uploads=uploads)
    try:
        checked = validate_input(
            model.input_schema, _with_uploads(data=data, schema=model.input_schema, uploads=uploads)
        )
    except InputInvalid as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise InputError("Some options are not valid; see each field.", details=errors)
    quote = _quote(model=model, data=checked, account=account)
    if account.frozen:
        raise AccountFrozenError(str(AccountFrozen(reason=account.frozen_reason)))
    if account.balance < quote.credits:
        raise _insufficient(required=quote.credits, balance=account.balance)

    if uploads:
        urls = _uploads_send(uploads=uploads, fields=fields)
        checked = _input_validate(
            model=model, data=_with_uploads(data=data, schema=model.input_schema, uploads=uploads, urls=urls)
        )

    public_id = public_id_new()
    try:
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
            transaction.on_commit(lambda: _enqueue_dispatch(generation.pk))
    except InsufficientCredits as exc:
        raise _insufficient(required=exc.required, balance=exc.balance) from exc
    except AccountFrozen as exc:
        raise AccountFrozenError(str(exc)) from exc
    return generation


def _insufficient(*, required, balance):
    return InsufficientCreditsError(
        f"This costs {required} credits; your balance is {balance}.",
        details={"required": required, "balance": balance},
    )


def generation_rerun(*, user, public_id):
    """Create a new generation with the same model and input as one of the user's own."""
    from .selectors import generation_get_for_owner

    source = generation_get_for_owner(user=user, public_id=public_id)
    return generation_create(user=user, model_slug=source.model.slug, data=dict(source.input))


def generation_hide(*, user, public_id):
    """Remove a generation from the user's gallery; the row and its ledger entries stay."""
    return Generation.objects.filter(owner=user, public_id=public_id).update(hidden=True) == 1


# --- Terminal transitions ---------------------------------------------------------------------


def _webhook_on_commit(generation):
    if generation.webhook_url:
        transaction.on_commit(lambda: _enqueue(WEBHOOK_TASK, generation.pk))


def generation_fail(*, generation_id, code, message="", kie_record=None):
    """Move an unfinished generation to failed and refund it, exactly once; return True if this did it."""
    now = timezone.now()
    text = message or ERROR_MESSAGES.get(code, "The generation failed. Your credits were refunded.")
    with transaction.atomic():
        changes = {"status": Status.FAILED, "error_code": code, "error_message": text, "completed_at": now}
        if kie_record is not None:
            changes["kie_record"] = kie_record
        won = Generation.objects.filter(pk=generation_id, status__in=ACTIVE_STATUSES).update(
            claimed_until=None, **changes
        )
        if not won:
            return False
        generation = Generation.objects.get(pk=generation_id)
        credits_refund(
            account_id=generation.account_id,
            amount=generation.credits_charged,
            reference=generation.public_id,
            description=f"Refund: {code}",
        )
        Generation.objects.filter(pk=generation_id, refunded=False).update(
            refunded=True, refunded_credits=generation.credits_charged
        )
        _webhook_on_commit(generation)
    logger.info(
        "generation %s failed (%s), refunded %s", generation.public_id, code, generation.credits_charged
    )
    return True


def _images_store(*, generation, urls):
    """Download every result into our storage and record them once; return True if stored now."""
    client = kie.kie_client()
    saved = []
    try:
        for url in urls:
            content, _declared_type = client.download(url=url, max_bytes=settings.ARTIO_MAX_IMAGE_BYTES)
            saved.append(storage.image_save(content=content))
    except (kie.KieError, storage.ImageInvalid):
        for fields in saved:
            storage.image_delete(fields=fields)
        raise
    with transaction.atomic():
        won = Generation.objects.filter(pk=generation.pk, images_stored_at__isnull=True).update(
            images_stored_at=timezone.now()
        )
        if won:
            GenerationImage.objects.bulk_create(
                [GenerationImage(generation_id=generation.pk, position=i, **f) for i, f in enumerate(saved)]
            )
    if not won:
        # Another worker stored this result first; ours are duplicates.
        for fields in saved:
            storage.image_delete(fields=fields)
    return bool(won)


def _succeed(*, generation, record):
    if not record.result_urls:
        return generation_fail(
            generation_id=generation.pk, code="result_invalid", message="", kie_record=record.raw
        )
    try:
        _images_store(generation=generation, urls=record.result_urls)
    except storage.ImageInvalid:
        return generation_fail(generation_id=generation.pk, code="result_invalid", kie_record=record.raw)
    except kie.KieError as exc:
        if exc.retryable:
            raise
        return generation_fail(generation_id=generation.pk, code="result_invalid", kie_record=record.raw)
    with transaction.atomic():
        won = Generation.objects.filter(pk=generation.pk, status__in=ACTIVE_STATUSES).update(
            status=Status.SUCCEEDED, completed_at=timezone.now(), kie_record=record.raw
        )
        if won:
            _webhook_on_commit(generation)
    return bool(won)


def _fail_message(record):
    detail = (record.fail_msg or "").strip()
    base = ERROR_MESSAGES["generation_failed"]
    return f"{base} (The model said: {detail[:300]})" if detail else base


def generation_refresh(*, generation_id):
    """Re-read a generation's task from KIE and apply what it says. Safe to call any number of times.

    Also stores the images of a success that arrives after the deadline failed (and refunded) the
    generation: the refund stands and the images are the user's to keep.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or not generation.kie_task_id:
        return None
    late = (
        generation.status == Status.FAILED
        and generation.error_code == "deadline"
        and generation.images_stored_at is None
    )
    if generation.status not in (Status.SUBMITTED, Status.RUNNING) and not late:
        return generation.status
    record = kie.kie_client().record_info(task_id=generation.kie_task_id)
    Generation.objects.filter(pk=generation.pk).update(last_checked_at=timezone.now())
    if late:
        if record.succeeded and record.result_urls:
            try:
                _images_store(generation=generation, urls=record.result_urls)
                logger.info("generation %s: late result stored after refund", generation.public_id)
            except storage.ImageInvalid:
                logger.warning("generation %s: late result is not an image", generation.public_id)
        return Status.FAILED
    if record.succeeded:
        _succeed(generation=generation, record=record)
    elif record.failed:
        generation_fail(
            generation_id=generation.pk,
            code="generation_failed",
            message=_fail_message(record),
            kie_record=record.raw,
        )
    else:
        Generation.objects.filter(pk=generation.pk, status=Status.SUBMITTED).update(
            status=Status.RUNNING, kie_record=record.raw
        )
    return Generation.objects.values_list("status", flat=True).get(pk=generation.pk)


def generation_recheck(*, generation_id):
    """Staff: re-read from KIE now (the admin's "re-check with KIE"); return the new status."""
    return generation_refresh(generation_id=generation_id)


def generation_cancel(*, generation_id):
    """Staff: fail an unfinished generation and refund it (the admin's "fail and refund")."""
    return generation_fail(generation_id=generation_id, code="cancelled")


# --- Dispatch ---------------------------------------------------------------------------------


def _lease_next(*, now):
    """Lease the queued generation to send next: highest plan priority, then oldest."""
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    candidates = (
        Generation.objects.filter(free, status=Status.QUEUED)
        .order_by("-priority", "id")
        .values_list("pk", "claimed_until")[:10]
    )
    until = now + timedelta(seconds=DISPATCH_LEASE_SECONDS)
    for pk, claimed in candidates:
        # Compare-and-swap on the lease we read, so two workers never send the same generation.
        if Generation.objects.filter(pk=pk, status=Status.QUEUED, claimed_until=claimed).update(
            claimed_until=until
        ):
            return Generation.objects.select_related("model").get(pk=pk)
    return None


def _callback_url(generation):
    return settings.ARTIO_PUBLIC_URL + reverse("generation-kie-callback", args=[generation.callback_token])


def _release(generation, *, backoff=0.0, attempt=False):
    changes = {"claimed_until": timezone.now() + timedelta(seconds=backoff) if backoff else None}
    if attempt:
        changes["dispatch_attempts"] = generation.dispatch_attempts + 1
    Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(**changes)


@dataclass
class DispatchReport:
    submitted: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    deferred: list = field(default_factory=list)
    paused: bool = False


def generation_submit(*, generation, client, report):
    """Send one leased generation to KIE; the caller holds a rate-limit slot."""
    try:
        task_id = client.create_task(
            model=generation.model.kie_model,
            input=kie_input(generation.model.input_schema, generation.input),
            callback_url=_callback_url(generation),
        )
    except kie.KieError as exc:
        if exc.alert:
            _release(generation)
            dispatch_pause(reason=f"KIE answered {exc.code}: {exc.message}")
            report.paused = True
        elif exc.retryable and generation.dispatch_attempts + 1 < DISPATCH_MAX_ATTEMPTS:
            logger.warning("createTask for %s failed, will retry: %r", generation.public_id, exc)
            _release(generation, backoff=min(5 * 2**generation.dispatch_attempts, 300), attempt=True)
            report.deferred.append(generation.public_id)
        else:
            logger.warning("createTask for %s failed for good: %r", generation.public_id, exc)
            code = "provider_error" if exc.retryable else "rejected"
            message = "" if exc.retryable else f"{ERROR_MESSAGES['rejected']} ({exc.message[:300]})"
            generation_fail(generation_id=generation.pk, code=code, message=message)
            report.failed.append(generation.public_id)
        return None
    now = timezone.now()
    moved = Generation.objects.filter(pk=generation.pk, status=Status.QUEUED).update(
        status=Status.SUBMITTED, kie_task_id=task_id, submitted_at=now, claimed_until=None
    )
    if not moved:
        # Staff cancelled it while we were calling KIE; the KIE task runs unseen.
        logger.warning(
            "generation %s left queued before KIE task %s was recorded", generation.public_id, task_id
        )
        return None
    report.submitted.append(generation.public_id)
    if Generation.objects.filter(pk=generation.pk, callback_at__isnull=False).exists():
        # KIE called back before the task id was recorded; that callback's re-read found nothing.
        generation_refresh_enqueue(generation_id=generation.pk)
    return task_id


def generations_dispatch(*, max_seconds=40.0, max_count=None):
    """Send queued generations to KIE at the global rate until none is left or time runs out.

    Any number of workers may run this at once: the lease and the rate-limit slots are shared
    through the database.
    """
    report = DispatchReport()
    deadline = time.monotonic() + max_seconds
    client = kie.kie_client()
    while max_count is None or len(report.submitted) + len(report.failed) < max_count:
        if dispatch_is_paused():
            report.paused = True
            break
        generation = _lease_next(now=timezone.now())
        if generation is None:
            break
        slot = ratelimit.create_slot_acquire(timeout=max(0.0, deadline - time.monotonic()))
        if slot is None:
            _release(generation)
            break
        try:
            generation_submit(generation=generation, client=client, report=report)
        finally:
            ratelimit.create_slot_release(slot)
        if report.paused or time.monotonic() >= deadline:
            break
    return report


# --- Poller -----------------------------------------------------------------------------------


def generations_poll(*, max_seconds=40.0):
    """One sweep of the scheduled poller: un-pause, dispatch, lost callbacks, deadlines, late results."""
    started = time.monotonic()
    now = timezone.now()
    summary = {"resumed": False, "refreshed": 0, "deadline": 0, "late": 0, "errors": 0}
    if dispatch_is_paused():
        try:
            if kie.kie_client().account_credit() > 0:
                summary["resumed"] = dispatch_resume()
        except kie.KieError as exc:
            logger.info("KIE still unavailable while paused: %r", exc)

    stale = now - timedelta(seconds=POLL_AFTER_SECONDS)
    due = (
        Generation.objects.filter(status__in=(Status.SUBMITTED, Status.RUNNING), submitted_at__lt=stale)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=stale))
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:200]
    )
    deadline_at = now - timedelta(seconds=settings.KIE_DEADLINE_SECONDS)
    for pk in list(due):
        if time.monotonic() - started > max_seconds:
            break
        try:
            generation_refresh(generation_id=pk)
            summary["refreshed"] += 1
        except kie.KieError as exc:
            summary["errors"] += 1
            logger.warning("recordInfo for generation %s failed: %r", pk, exc)
    overdue = Generation.objects.filter(
        status__in=(Status.SUBMITTED, Status.RUNNING), submitted_at__lt=deadline_at
    ).values_list("pk", flat=True)
    for pk in list(overdue):
        summary["deadline"] += int(generation_fail(generation_id=pk, code="deadline"))

    late_window = now - timedelta(hours=LATE_RESULT_HOURS)
    late_stale = now - timedelta(minutes=2)
    late = (
        Generation.objects.filter(
            status=Status.FAILED,
            error_code="deadline",
            images_stored_at__isnull=True,
            completed_at__gt=late_window,
        )
        .exclude(kie_task_id="")
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=late_stale))
        .values_list("pk", flat=True)[:50]
    )
    for pk in list(late):
        if time.monotonic() - started > max_seconds:
            break
        try:
            generation_refresh(generation_id=pk)
            summary["late"] += 1
        except kie.KieError as exc:
            summary["errors"] += 1
            logger.info("late recordInfo for generation %s failed: %r", pk, exc)

    if not dispatch_is_paused() and Generation.objects.filter(status=Status.QUEUED).exists():
        _enqueue_dispatch()
    return summary


def generation_quote_preview(*, user, model_slug, data):
    """Return (quote, errors) for a half-filled form: the price even while, say, the prompt is empty.

    Only the fields that set the price (count and variant) must be valid; other errors come back in
    `errors` for the page to show next to the button. The charge itself always re-validates everything.
    """
    model = _model_get(slug=model_slug)
    account = account_for_user(user=user)
    _plan_check(model=model, account=account)
    try:
        filled = validate_input(model.input_schema, data)
        errors = {}
    except InputInvalid as exc:
        errors = exc.errors
        priced = {model.count_field, model.variant_field} - {""}
        bad = {name: msgs for name, msgs in errors.items() if name in priced}
        if bad:
            raise InputError("Some options are not valid; see each field.", details=bad) from exc
        filled = {name: value for name, value in data.items() if name in priced}
    return _quote(model=model, data=filled, account=account), errors
