"""Pages of the generation app and KIE's callback. Views parse, call one service, render."""

import json
import logging

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

from . import kie, pipeline, selectors, services
from .downloads import content_disposition, image_download_name
from .library_views import UNDO_SESSION_KEY
from .studio import BALANCE_CHANGED, form_query

logger = logging.getLogger(__name__)


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
        "reuse_url": reverse("generate") + "?" + form_query(generation.model, generation.input),
        "rerun_credits": services.generation_rerun_quote(generation=generation, user=request.user),
        "trash_days": settings.ARTIO_TRASH_DAYS,
    }
    response = _page_or_fragment(request, "generation/detail.html", "status", context)
    if request.headers.get("HX-Request") and generation.is_terminal and generation.refunded:
        # The poll that first sees the refund (polling stops at a terminal state).
        response["HX-Trigger"] = BALANCE_CHANGED
    return response


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
    response = redirect("generation-detail", public_id=public_id)
    response["HX-Trigger"] = BALANCE_CHANGED
    return response


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
    MEDIA_ROOT is served. `?download=1` (a result image, not a thumbnail) answers it as an
    attachment named after its prompt and model (generation/downloads.py).
    """
    if request.GET.get("download"):
        image = selectors.image_for_download(path=path)
        if image is None:
            raise Http404("No such image.")
        response = serve(request, path, document_root=settings.MEDIA_ROOT)
        response["Content-Disposition"] = content_disposition(image_download_name(image))
        response["Cache-Control"] = "private, no-cache"
        return response
    if not (selectors.image_is_served(path=path) or selectors.sample_is_served(path=path)):
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
