"""The errors a generation request can meet before anything is charged, and the failure texts users read."""


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


class NotCancellable(GenerationError):
    code, http_status = "not_cancellable", 409


# Plain words for the failures users see on their cards.
ERROR_MESSAGES = {
    "deadline": "The model did not finish in time. Your credits were refunded.",
    "provider_error": "The image service kept failing, so we stopped trying. Your credits were refunded.",
    "rejected": "The image service refused this request. Your credits were refunded.",
    "generation_failed": "The model could not make this image. Your credits were refunded.",
    "result_invalid": "The model returned something that is not a usable image. Your credits were refunded.",
    "cancelled": "Cancelled by Artio staff. Your credits were refunded.",
    "cancelled_by_user": "You cancelled this generation. Your credits were refunded.",
}
