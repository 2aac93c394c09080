"""Reads of generations, always scoped to their owner (another user's id is a 404)."""

from django.core.cache import cache
from django.http import Http404

from catalog.models import AIModel

from .models import DispatchState, Generation, Status


def generation_get_for_owner(*, user, public_id):
    """Return the user's generation `public_id` (hidden ones included), or raise Http404."""
    generation = (
        Generation.objects.select_related("model", "price")
        .prefetch_related("images")
        .filter(owner=user, public_id=public_id)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def generations_for_owner(*, user, status=None, model_slug=None):
    """Return the user's visible generations, newest first, images prefetched."""
    qs = (
        Generation.objects.filter(owner=user, hidden=False)
        .select_related("model")
        .prefetch_related("images")
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if model_slug:
        qs = qs.filter(model__slug=model_slug)
    return qs


def generation_by_callback_token(*, token):
    """Return the generation a KIE callback URL's token names, or None."""
    return Generation.objects.filter(callback_token=token).first() if token else None


def model_for_slug(*, slug):
    """Return the active model `slug` with its prices, or None."""
    if not slug:
        return None
    return AIModel.objects.filter(slug=slug, is_active=True).prefetch_related("prices").first()


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
    from . import kie

    cached = cache.get("generation:kie-credit")
    if cached is not None:
        return cached
    try:
        result = (kie.kie_client(timeout=(2, 5)).account_credit(), None)
    except kie.KieError as exc:
        result = (None, f"{exc.message} (code {exc.code})" if exc.code else exc.message)
    cache.set("generation:kie-credit", result, cache_seconds)
    return result


STATUS_CHOICES = Status.choices
