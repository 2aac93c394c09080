"""Reads of generations, always scoped to their owner (another user's id is a 404)."""

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Q
from django.http import Http404

from catalog.models import AIModel
from catalog.schemas import image_fields

from . import kie
from .models import DispatchState, Generation, GenerationImage, WebhookDelivery


def generation_get_for_owner(*, user, public_id):
    """Return the user's generation `public_id` unless it is in the trash, or raise Http404."""
    generation = (
        Generation.objects.select_related("model", "price")
        .prefetch_related("images")
        .filter(owner=user, public_id=public_id, deleted_at__isnull=True)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def _trash_for_owner(user):
    return Generation.objects.filter(owner=user, deleted_at__isnull=False, purged_at__isnull=True)


def generation_get_in_trash(*, user, public_id):
    """Return the user's generation `public_id` if it is in the trash (not yet purged), or raise Http404."""
    generation = _trash_for_owner(user).select_related("model").filter(public_id=public_id).first()
    if generation is None:
        raise Http404("No such generation in the trash.")
    return generation


def generations_in_trash(*, user):
    """Return the user's trashed, not yet purged generations, last deleted first, images prefetched."""
    return (
        _trash_for_owner(user)
        .select_related("model")
        .prefetch_related("images")
        .order_by("-deleted_at", "-id")
    )


def image_is_served(*, path):
    """Return True if `path` is a stored result image (or its thumbnail) whose generation is not in
    the trash, or a model's sample image; anything else under the media folder is not served."""
    if not path:
        return False  # an image without a thumbnail has thumbnail=""
    if path.startswith("samples/") and AIModel.objects.filter(sample_image=path).exists():
        return True  # a model's sample picture is public, like the catalogue it illustrates
    return GenerationImage.objects.filter(
        Q(file=path) | Q(thumbnail=path), generation__deleted_at__isnull=True
    ).exists()


def sample_is_served(*, path):
    """Return True if `path` is a model's sample image (the picker's and the landing page's)."""
    return bool(path) and AIModel.objects.filter(sample_image=path).exists()


def image_for_download(*, path):
    """Return the served result image stored at `path` (not a thumbnail), with its generation and
    model, or None: what a download needs to name the file."""
    if not path:
        return None
    return (
        GenerationImage.objects.select_related("generation__model")
        .filter(file=path, generation__deleted_at__isnull=True)
        .first()
    )


def image_for_owner(*, user, public_id, position):
    """Return image `position` of the user's visible generation `public_id`, or None."""
    return (
        GenerationImage.objects.select_related("generation__model")
        .filter(
            generation__owner=user,
            generation__public_id=public_id,
            generation__deleted_at__isnull=True,
            position=position,
        )
        .first()
    )


def generations_recent(*, user, limit=6):
    """Return the user's latest visible generations for the studio's results column (2 queries)."""
    return list(generations_for_owner(user=user)[:limit])


def generations_by_ids(*, user, public_ids):
    """Return the user's visible generations among `public_ids`, in that order (for a comparison)."""
    found = {g.public_id: g for g in generations_for_owner(user=user).filter(public_id__in=public_ids)}
    return [found[pid] for pid in public_ids if pid in found]


# How many recent generations the prompt history looks through for distinct prompts.
PROMPT_HISTORY_SCAN = 60


def prompts_recent(*, user, limit=8):
    """Return [(public_id, prompt)] of the user's most recent distinct prompts (one query).

    From their generations, so it follows them across devices; trashed ones are left out.
    """
    rows = (
        Generation.objects.filter(owner=user, deleted_at__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("public_id", "input")[:PROMPT_HISTORY_SCAN]
    )
    seen, history = set(), []
    for public_id, data in rows:
        prompt = str((data or {}).get("prompt") or "").strip()
        if prompt and prompt not in seen:
            seen.add(prompt)
            history.append((public_id, prompt))
            if len(history) == limit:
                break
    return history


def generation_prompt_for_owner(*, user, public_id):
    """Return the prompt of the user's generation `public_id` ("" if none): "reuse this prompt"."""
    data = (
        Generation.objects.filter(owner=user, public_id=public_id, deleted_at__isnull=True)
        .values_list("input", flat=True)
        .first()
    )
    return str((data or {}).get("prompt") or "")


@dataclass
class GalleryPage:
    """One page of a gallery; the cursors are None at either end."""

    items: list
    newer: str | None
    older: str | None


def _cursor(generation):
    return f"{generation.created_at.isoformat()}~{generation.pk}"


def _cursor_parse(cursor):
    """Return (created_at, pk) from a cursor, or None for anything that is not one."""
    stamp, _, pk = (cursor or "").rpartition("~")
    try:
        at, pk = datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        return None
    return (at, pk) if at.tzinfo else None  # ours always carry their zone


def generations_for_owner(*, user, status=None, model_slug=None):
    """Return the user's visible generations, newest first, images prefetched."""
    qs = (
        Generation.objects.filter(owner=user, deleted_at__isnull=True)
        .select_related("model")
        .prefetch_related("images")
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if model_slug:
        qs = qs.filter(model__slug=model_slug)
    return qs


def generations_page_for_owner(
    *, user, status=None, model_slug=None, before=None, after=None, size=24, scope=None
):
    """Return a GalleryPage of the user's visible generations, newest first, by keyset.

    `before` (a cursor) gives the page of older generations, `after` the page of newer ones, neither
    the newest page. A keyset page costs the same at the 10,000th image as at the first, where
    OFFSET would read and skip every row before it. `scope` narrows the queryset further (the
    library's search and filters).
    """
    qs = generations_for_owner(user=user, status=status, model_slug=model_slug)
    if scope is not None:
        qs = scope(qs)
    if key := _cursor_parse(after):
        at, pk = key
        newer = qs.filter(Q(created_at__gt=at) | Q(id__gt=pk), created_at__gte=at)
        rows = list(newer.order_by("created_at", "id")[: size + 1])
        if rows:
            more = len(rows) > size
            rows = rows[:size][::-1]
            return GalleryPage(rows, newer=_cursor(rows[0]) if more else None, older=_cursor(rows[-1]))
    elif key := _cursor_parse(before):
        at, pk = key
        # "created_at <= at" on its own, so the database seeks the index instead of scanning to it.
        qs = qs.filter(Q(created_at__lt=at) | Q(id__lt=pk), created_at__lte=at)
    rows = list(qs[: size + 1])
    more, rows = len(rows) > size, rows[:size]
    newer = _cursor(rows[0]) if before and rows else None
    return GalleryPage(rows, newer=newer, older=_cursor(rows[-1]) if more else None)


def generation_last_settings(*, user, model):
    """Return the options of the user's latest generation of `model` (not its prompt or images)."""
    last = (
        Generation.objects.filter(owner=user, model=model)
        .order_by("-created_at", "-id")
        .values_list("input", flat=True)
        .first()
    )
    skip = {"prompt", *image_fields(model.input_schema or {})}
    return {name: value for name, value in (last or {}).items() if name not in skip}


def generation_by_callback_token(*, token):
    """Return the generation a KIE callback URL's token names, or None."""
    return Generation.objects.filter(callback_token=token).first() if token else None


def models_for_picker():
    """Return active models with their prices, in catalogue order."""
    return list(
        AIModel.objects.filter(is_active=True).prefetch_related("prices").order_by("sort_order", "slug")
    )


def dispatch_pause_get():
    """Return the DispatchState row when dispatch is paused, else None."""
    return DispatchState.objects.filter(pk=1, paused=True).first()


def kie_credit_balance(*, cache_seconds=60):
    """Return (balance, error) for KIE's account credit, cached briefly; one of them is None."""
    cached = cache.get("generation:kie-credit")
    if cached is not None:
        return cached
    try:
        result = (kie.kie_client(timeout=(2, 5)).account_credit(), None)
    except kie.KieError as exc:
        result = (None, f"{exc.message} (code {exc.code})" if exc.code else exc.message)
    cache.set("generation:kie-credit", result, cache_seconds)
    return result


def webhook_deliveries_for_user(*, user, limit=50):
    return WebhookDelivery.objects.filter(account__user=user).order_by("-created_at", "-id")[:limit]
