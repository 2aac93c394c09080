"""Pages of the generation app and KIE's callback. Views parse, call one service, render."""

import json
import logging
from itertools import groupby
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe
from django.views.static import serve

from artio.errors import ArtioError
from billing.selectors import account_get
from catalog.models import Family
from catalog.selectors import model_for_charge, model_paused_notice

from . import kie, pipeline, selectors, services
from .forms import GenerationForm, form_query_data
from .library_views import UNDO_SESSION_KEY

logger = logging.getLogger(__name__)


def _picker(models, account):
    """Return [(family label, [(model, price_from, locked)])] for the model picker."""
    rows = []
    for model in models:
        prices = sorted(p.credits for p in model.prices.all())
        rows.append((model, prices[0] if prices else None, not model.allows(account.plan)))
    # Families in the catalogue's declared order (Google first), models in their sort order.
    order = {value: index for index, (value, _label) in enumerate(Family.choices)}
    rows.sort(key=lambda r: (order.get(r[0].family, 99), r[0].sort_order, r[0].slug))
    labels = dict(Family.choices)
    grouped = groupby(rows, key=lambda r: r[0].family)
    return [(labels.get(family, family), list(items)) for family, items in grouped]


def _choose_model(models, account, slug):
    allowed = [m for m in models if m.allows(account.plan)]
    chosen = next((m for m in models if m.slug == slug), None)
    return chosen or (allowed[0] if allowed else (models[0] if models else None))


def _form_values(data):
    """Return schema input as the form's string values (booleans as "true"/"false"); lists left out."""
    return {
        key: "true" if value is True else "false" if value is False else str(value)
        for key, value in data.items()
        if not isinstance(value, list)
    }


def _form_query(model, data):
    """Return the query string that reopens /generate/ with this form's values (for top-up links)."""
    return urlencode([("model", model.slug), *_form_values(data).items()])


def _quote_context(request, model, data):
    account = account_get(user=request.user)
    context = {"model": model, "account": account, "quote": None, "quote_error": ""}
    try:
        quote, _errors = services.generation_quote_preview(
            user=request.user, model_slug=model.slug, data=data
        )
    except ArtioError as exc:
        context["quote_error"] = exc.message
        return context
    context["quote"] = quote
    context["balance_after"] = account.balance - quote.credits
    context["short_by"] = max(0, quote.credits - account.balance)
    generate_url = reverse("generate") + "?" + _form_query(model, data)
    context["topup_url"] = reverse("billing") + "?" + urlencode({"next": generate_url})
    return context


@login_required
def generate(request):
    """GET: the model picker and the form for the chosen model. POST: create, then show the result page."""
    account = account_get(user=request.user)
    source = request.POST if request.method == "POST" else request.GET
    status, error, form = 200, None, None
    model = model_for_charge(slug=source.get("model", ""))
    if model is None and source.get("model"):
        # A paused model (ops' alerts, or staff) says why and names the one to use instead.
        notice = model_paused_notice(slug=source["model"])
        error = services.ModelPaused(notice) if notice else None
    if request.method == "POST" and model is not None:
        form = GenerationForm(request.POST, request.FILES, model=model, user=request.user)
        if form.is_valid():
            try:
                generation = services.generation_create(
                    user=request.user,
                    model_slug=model.slug,
                    data=form.input_data(),
                    uploads=form.upload_data(),
                    account=account,
                )
            except ArtioError as exc:
                if exc.code == "invalid_input":
                    form.add_service_errors(exc.details)
                error, status = exc, exc.http_status
            else:
                return redirect(generation.get_absolute_url())
        else:
            status = 400
        data = form.input_data()
    # Render the page (first visit, or the form again with its errors).
    models = selectors.models_for_picker()
    model = model or _choose_model(models, account, "")
    context = {
        "families": _picker(models, account),
        "model": model,
        "account": account,
        "error": error,
        "paused": selectors.dispatch_pause_get() is not None,
    }
    if model is None:
        return render(request, "generation/generate.html", context)
    context["locked"] = not model.allows(account.plan)
    if form is None:
        initial = form_query_data(model, request.GET)
        if not initial and "defaults" not in request.GET:
            # A plain visit starts from the options this user last generated with on this model.
            initial = _form_values(selectors.generation_last_settings(user=request.user, model=model))
            context["remembered"] = bool(initial)
        form = GenerationForm(model=model, initial=initial, user=request.user)
        data = _coerce_initial(form, {k: v for k, v in form.initial.items() if v not in ("", None)})
    context["form"] = form
    context.update(_quote_context(request, model, data))
    return render(request, "generation/generate.html", context, status=status)


def _coerce_initial(form, data):
    """Turn prefilled strings into the types the schema wants, where the form field knows how."""
    coerced = {}
    for name, value in data.items():
        field = form.fields.get(name)
        if field is None or name in form.upload_names:
            continue
        try:
            coerced[name] = field.clean(value)
        except forms.ValidationError:
            continue  # a bad prefill is simply left out of the price preview
    return {k: v for k, v in coerced.items() if v not in ("", None)}


@login_required
@require_GET
def generate_quote(request):
    """htmx: the Generate button with the exact cost for the form's current options."""
    account = account_get(user=request.user)
    model = model_for_charge(slug=request.GET.get("model", ""))
    if model is None:
        return HttpResponseNotFound()
    form = GenerationForm(request.GET, model=model, user=request.user)
    form.is_valid()
    data = {k: v for k, v in getattr(form, "cleaned_data", {}).items() if v not in (None, "", [])}
    data = {k: v for k, v in data.items() if k not in form.upload_names}
    context = _quote_context(request, model, data)
    context["locked"] = not model.allows(account.plan)
    context["paused"] = selectors.dispatch_pause_get() is not None
    return render(request, "generation/generate.html#generate-button", context)


def _page_or_fragment(request, template, fragment, context):
    """Render the whole page, or only its `fragment` partial when htmx asks for it."""
    if request.headers.get("HX-Request"):
        return render(request, f"{template}#{fragment}", context)
    return render(request, template, context)


def _recipe(generation):
    """Return [(label, value)] of the options used, labelled as on the form; uploads summarised."""
    props = (generation.model.input_schema or {}).get("properties") or {}
    rows = []
    for name, value in (generation.input or {}).items():
        if name == "prompt":
            continue
        label = props.get(name, {}).get("title") or name.replace("_", " ").capitalize()
        if isinstance(value, list) or (isinstance(value, str) and value.startswith(("http://", "https://"))):
            count = len(value) if isinstance(value, list) else 1
            value = f"{count} uploaded image{'s' if count != 1 else ''}"
        elif isinstance(value, bool):
            value = "Yes" if value else "No"
        rows.append((label, value))
    return rows


@login_required
@require_GET
def generation_detail(request, public_id):
    generation = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    context = {
        "generation": generation,
        "cancellable": not generation.is_terminal and timezone.now() >= generation.cancellable_at,
        "images": list(generation.images.all()),
        "recipe": _recipe(generation),
        "reuse_url": reverse("generate") + "?" + _form_query(generation.model, generation.input),
        "trash_days": settings.ARTIO_TRASH_DAYS,
    }
    return _page_or_fragment(request, "generation/detail.html", "status", context)


@login_required
@require_POST
def generation_rerun(request, public_id):
    source = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    try:
        generation = services.generation_rerun(generation=source)
    except ArtioError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("generate") + "?" + _form_query(source.model, source.input))
    return redirect(generation.get_absolute_url())


@login_required
@require_POST
def generation_cancel(request, public_id):
    """The owner gives up on a stuck generation: fail it and refund it now."""
    generation = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    try:
        generation = services.generation_cancel_by_owner(generation=generation)
    except services.NotCancellable as exc:
        messages.error(request, exc.message)
    else:
        if generation.refunded:
            refunded = generation.refunded_credits
            messages.success(request, f"Cancelled. {refunded} credits are back in your balance.")
    return redirect("generation-detail", public_id=public_id)


TRASH_PAGE_SIZE = 200


def _back(request, default):
    """Return the POSTed `next` if it is one of our gallery or trash pages, else `default`."""
    target = request.POST.get("next", "")
    pages = (reverse("generation-list"), reverse("generation-trash"))
    if target.startswith(pages) and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return reverse(default)


@login_required
@require_POST
def generation_delete(request, public_id):
    """Move a generation to the trash; the library then offers to undo it (a toast with Undo).

    From the library's grid (htmx) the tile goes at once and only the toast comes back.
    """
    generation = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
    services.generation_trash(generation=generation)
    if request.headers.get("HX-Request"):
        context = {"undo_id": generation.public_id, "trash_days": settings.ARTIO_TRASH_DAYS}
        context["next"] = _back(request, "generation-list")
        return render(request, "generation/_undo_toast_oob.html", context)
    request.session[UNDO_SESSION_KEY] = generation.public_id
    return redirect(_back(request, "generation-list"))


@login_required
@require_POST
def generation_restore(request, public_id):
    generation = selectors.generation_get_in_trash(user=request.user, public_id=public_id)
    services.generation_restore(generation=generation)
    messages.success(request, "Restored to My images.")
    return redirect(_back(request, "generation-list"))


@login_required
@require_POST
def generation_delete_forever(request, public_id):
    generation = selectors.generation_get_in_trash(user=request.user, public_id=public_id)
    try:
        services.generation_delete_forever(generation=generation)
    except services.NotPurgeable as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Deleted for good. Your credit history keeps the record of what it cost.")
    return redirect("generation-trash")


@login_required
@require_GET
def generation_trash(request):
    """The user's trash: restore, or delete for good before the purge does."""
    items = list(selectors.generations_in_trash(user=request.user)[: TRASH_PAGE_SIZE + 1])
    return render(
        request,
        "generation/trash.html",
        {
            "items": items[:TRASH_PAGE_SIZE],
            "more": len(items) > TRASH_PAGE_SIZE,
            "trash_days": settings.ARTIO_TRASH_DAYS,
        },
    )


@login_required
@require_safe
def generation_trash_preview(request, public_id):
    """The first image's thumbnail of a trashed generation, for its owner's trash page only.

    Its public image URLs answer 404 while it is in the trash; this owner-only route lets the owner
    see what they are about to restore or delete.
    """
    generation = selectors.generation_get_in_trash(user=request.user, public_id=public_id)
    image = generation.images.order_by("position").first()
    if image is None:
        raise Http404("No image.")
    name = image.thumbnail.name or image.file.name
    content_type = "image/webp" if image.thumbnail.name else image.content_type
    try:
        handle = default_storage.open(name)
    except FileNotFoundError:
        raise Http404("No image.") from None  # a purge is deleting it right now
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, no-cache"
    return response


@require_safe
def image_serve(request, path):
    """Serve a result image from local storage (MEDIA_ROOT), unless its generation is in the trash.

    Anyone with the link may see it (the names carry 144 random bits); the moment its owner
    deletes it, the link answers 404, and again works after a restore. Nothing else under
    MEDIA_ROOT is served.
    """
    if not selectors.image_is_served(path=path):
        raise Http404("No such image.")
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    # Browsers revalidate (cheap: 304) rather than keep showing an image that was since deleted;
    # shared caches keep nothing.
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_GET
def webhook_deliveries(request):
    """The partner's recent webhook attempts: a page, or the section the API keys page loads."""
    context = {"deliveries": selectors.webhook_deliveries_for_user(user=request.user, limit=50)}
    return _page_or_fragment(request, "generation/webhook_deliveries.html", "deliveries", context)


@csrf_exempt
@require_POST
def kie_callback(request, token):
    """KIE says "task X changed". Check the token (and HMAC), then only enqueue a re-read of the task.

    The body is never trusted (only taskId and timestamp are signed): money moves after recordInfo.
    """
    generation = selectors.generation_by_callback_token(token=token)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    task_id = kie.callback_task_id(body) if isinstance(body, dict) else None
    if generation is None:
        # No generation of ours: KIE may still bill the task it names, so a signed (or, without a
        # key, any) one is checked with recordInfo and kept for reconciliation.
        if task_id and _kie_signature_ok(request, task_id):
            pipeline.kie_task_callback_received(task_id=task_id)
        return HttpResponseNotFound("unknown callback")
    if body is None:
        return HttpResponseBadRequest("body is not JSON")
    if not _kie_signature_ok(request, task_id or ""):
        logger.warning("KIE callback for %s with a bad signature", generation.public_id)
        return HttpResponseForbidden("bad signature")
    if generation.kie_task_id and task_id and task_id != generation.kie_task_id:
        # A second task for this generation (sent again after a lost createTask answer): never
        # stored, but KIE may bill it, so it is kept for reconciliation.
        pipeline.kie_task_callback_received(task_id=task_id, generation_id=generation.pk)
        return HttpResponseBadRequest("task id does not match")
    pipeline.generation_callback_received(generation_id=generation.pk, task_id=task_id)
    return HttpResponse("ok")


def _kie_signature_ok(request, task_id):
    """Return True when KIE_WEBHOOK_HMAC_KEY is unset or the callback carries KIE's signature."""
    key = settings.KIE_WEBHOOK_HMAC_KEY
    return not key or kie.callback_signature_ok(
        task_id=task_id,
        timestamp=request.headers.get("X-Webhook-Timestamp", ""),
        signature=request.headers.get("X-Webhook-Signature", ""),
        key=key,
    )
