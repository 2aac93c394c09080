"""Writes of the generation pipeline: quote, create (charge), dispatch, refresh, succeed, fail.

The flow (DESIGN.md §5, docs/generation.md), one module per stage:

    create     generation_create: validate → charge + create in one transaction → enqueue dispatch
    dispatch   generations_dispatch: lease the best queued generation (plan priority, then age) →
               take a global rate-limit slot → KIE createTask → queued→submitted (CAS); 401/402 pause
    outcome    KIE callback / poller → generation_refresh: re-read recordInfo → store images →
               succeeded, or → failed + refunded exactly once (generation_fail)
    poll       generations_poll: lost callbacks, deadlines, late successes, un-pausing
    actions    staff re-check and cancel, the owner's cancel of a stuck job, re-run, hide

Every transition is a compare-and-swap on `status`, so a task delivered twice, a callback sent
twice, or a worker killed half-way ends in one outcome with one ledger effect. Callers import
from `generation.services`; the names below are its public face.
"""

from .actions import (
    generation_cancel,
    generation_cancel_by_owner,
    generation_hide,
    generation_recheck,
    generation_rerun,
)
from .create import generation_create, generation_quote, generation_quote_preview
from .dispatch import DISPATCH_MAX_ATTEMPTS, DispatchReport, generation_submit, generations_dispatch
from .errors import (
    ERROR_MESSAGES,
    AccountFrozenError,
    GenerationError,
    InputError,
    InsufficientCreditsError,
    ModelNotFound,
    NotCancellable,
    PlanRequired,
    ProviderUnavailable,
)
from .outcome import (
    generation_callback_received,
    generation_fail,
    generation_refresh,
    generation_refresh_enqueue,
)
from .pause import dispatch_is_paused, dispatch_pause, dispatch_resume
from .poll import generations_poll
from .uploads import image_fields

__all__ = [
    "DISPATCH_MAX_ATTEMPTS",
    "ERROR_MESSAGES",
    "AccountFrozenError",
    "DispatchReport",
    "GenerationError",
    "InputError",
    "InsufficientCreditsError",
    "ModelNotFound",
    "NotCancellable",
    "PlanRequired",
    "ProviderUnavailable",
    "dispatch_is_paused",
    "dispatch_pause",
    "dispatch_resume",
    "generation_callback_received",
    "generation_cancel",
    "generation_cancel_by_owner",
    "generation_create",
    "generation_fail",
    "generation_hide",
    "generation_quote",
    "generation_quote_preview",
    "generation_recheck",
    "generation_refresh",
    "generation_refresh_enqueue",
    "generation_rerun",
    "generation_submit",
    "generations_dispatch",
    "generations_poll",
    "image_fields",
]
