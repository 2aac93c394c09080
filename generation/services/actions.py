"""What staff and owners do to an existing generation: re-check, cancel and refund, re-run, hide."""

from django.utils import timezone

from ..models import Generation, Status
from ..selectors import generation_get_for_owner
from .create import generation_create
from .errors import NotCancellable
from .outcome import generation_fail, generation_refresh


def generation_recheck(*, generation_id):
    """Staff: re-read from KIE now (the admin's "re-check with KIE"); return the new status."""
    return generation_refresh(generation_id=generation_id)


def generation_cancel(*, generation_id):
    """Staff: fail an unfinished generation and refund it (the admin's "fail and refund")."""
    return generation_fail(generation_id=generation_id, code="cancelled")


def generation_cancel_by_owner(*, user, public_id):
    """Owner: fail and refund one of their generations that is stuck past its slow-job threshold.

    Raises Http404 for someone else's generation, NotCancellable when it already ended (a success is
    never undone) or is not slow yet. Returns the generation, failed and refunded.
    """
    generation = generation_get_for_owner(user=user, public_id=public_id)
    if generation.is_terminal:
        raise NotCancellable("This generation has already finished.")
    if timezone.now() < generation.cancellable_at:
        raise NotCancellable("This generation is not late yet; please give it a little longer.")
    # The same compare-and-swap as every other failure: if it has just succeeded, this refunds nothing.
    cancelled = generation_fail(generation_id=generation.pk, code="cancelled_by_user")
    generation.refresh_from_db()
    if not cancelled and generation.status == Status.SUCCEEDED:
        raise NotCancellable("It has just finished; your images are ready.")
    return generation


def generation_rerun(*, user, public_id):
    """Create a new generation with the same model and input as one of the user's own."""
    source = generation_get_for_owner(user=user, public_id=public_id)
    return generation_create(user=user, model_slug=source.model.slug, data=dict(source.input))


def generation_hide(*, user, public_id):
    """Remove a generation from the user's gallery; the row and its ledger entries stay."""
    return Generation.objects.filter(owner=user, public_id=public_id).update(hidden=True) == 1
