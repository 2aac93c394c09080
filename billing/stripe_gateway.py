"""Every call to Stripe, in one module. Results are plain dicts.

With settings.STRIPE_SANDBOX (no STRIPE_SECRET_KEY) nothing here talks to Stripe: a sandbox
"session" is derived from the TopUp row, and the sandbox checkout page (billing.views) stands in for
Stripe's hosted page, posting a signed event to our real webhook over HTTP. Only the far side is
simulated; fulfilment, signatures and the webhook are the real code.

Tests swap `http_client_factory` for a fake `stripe.HTTPClient` to exercise the real (non-sandbox)
path without the network.
"""

import json
import secrets
import time

import requests
import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

# Returns the stripe.HTTPClient to use, or None for the SDK's default. Tests replace it.
http_client_factory = None

WEBHOOK_PATH = "/billing/stripe/webhook/"
SANDBOX_SESSION_PREFIX = "cs_sandbox_"
SANDBOX_INTENT_PREFIX = "pi_sandbox_"


class GatewayError(Exception):
    """Stripe could not be reached or refused the request; nothing was bought."""


class CardDeclined(Exception):
    """Stripe refused an off-session charge on the saved card (`code`: card_declined,
    authentication_required, insufficient_funds…); nothing was charged."""

    def __init__(self, message, *, code, payment_intent_id=""):
        super().__init__(message)
        self.code, self.payment_intent_id = code, payment_intent_id


# Stripe's test card that saves fine but declines every later charge, as the sandbox plays it.
SANDBOX_CARD_DECLINES = "pm_sandbox_card_0341"
SANDBOX_CARD_OK = "pm_sandbox_card_4242"


class InvalidEvent(Exception):
    """A webhook body that is not a correctly signed, fresh Stripe event."""


def is_sandbox():
    """Return True when the sandbox stands in for Stripe; refuse outright beside a live key."""
    if settings.STRIPE_SANDBOX and settings.STRIPE_SECRET_KEY.startswith("sk_live_"):
        # settings.py refuses this already; a second lock on the door that moves money.
        raise ImproperlyConfigured("The Stripe sandbox cannot run with a live Stripe key.")
    return bool(settings.STRIPE_SANDBOX)


def _client():
    if is_sandbox():
        raise ImproperlyConfigured("The Stripe sandbox must not call Stripe.")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
        http_client=http_client_factory() if http_client_factory else None,
    )


def checkout_session_create(*, topup, email, success_url, cancel_url, customer_id=None):
    """Create the Checkout Session for `topup`; return {"id", "url"}.

    `success_url` must carry the literal `{CHECKOUT_SESSION_ID}`, which Stripe fills in. With
    `topup.save_card`, the card is saved on `customer_id` for later off-session charges.
    """
    if is_sandbox():
        session_id = SANDBOX_SESSION_PREFIX + topup.public_id
        url = reverse("billing-sandbox-checkout", args=[topup.public_id])
        return {"id": session_id, "url": url}
    metadata = {
        "topup_id": str(topup.pk),
        "topup_public_id": topup.public_id,
        "user_id": str(topup.account.user_id),
        "credits": str(topup.credits),
    }
    payer = {"customer_email": email}
    intent_data = {"metadata": metadata}
    if topup.save_card and customer_id:
        payer = {"customer": customer_id}
        intent_data["setup_future_usage"] = "off_session"
    try:
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "client_reference_id": str(topup.account.user_id),
                **payer,
                "payment_method_types": ["card"],
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": topup.currency,
                            "unit_amount": topup.amount_cents,
                            "product_data": {"name": f"{topup.credits:,} Artio credits"},
                        },
                    }
                ],
                "metadata": metadata,
                "payment_intent_data": intent_data,
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": f"topup-{topup.pk}-session"},
        )
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    return {"id": session.id, "url": session.url}


def checkout_session_retrieve(*, session_id, topup=None):
    """Return the Checkout Session as a dict (the sandbox derives it from `topup`)."""
    if is_sandbox():
        if topup is None or session_id != SANDBOX_SESSION_PREFIX + topup.public_id:
            raise GatewayError("No such sandbox session.")
        return sandbox_session(topup=topup)
    try:
        return _client().v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc


def payment_intent_metadata(*, payment_intent_id):
    """Return the metadata we put on a PaymentIntent (it names the top-up), or {} when there is none.

    Raise GatewayError when Stripe cannot answer, so the webhook fails and Stripe delivers again.
    """
    if not payment_intent_id:
        return {}
    if is_sandbox():
        if payment_intent_id.startswith(SANDBOX_INTENT_PREFIX):
            return {"topup_public_id": payment_intent_id.removeprefix(SANDBOX_INTENT_PREFIX)}
        return {}
    try:
        intent = _client().v1.payment_intents.retrieve(payment_intent_id).to_dict()
    except stripe.InvalidRequestError:
        return {}  # not a PaymentIntent of this Stripe account: nothing of ours
    except stripe.StripeError as exc:
        # Stripe unreachable: the caller must not conclude "not ours" and drop a refund or dispute.
        raise GatewayError(str(exc)) from exc
    return intent.get("metadata") or {}


def payment_intent_off_session(*, topup, customer_id, payment_method_id):
    """Charge the saved card for an automatic `topup`, the customer away; return the PaymentIntent.

    The idempotency key is the top-up's: a retried task cannot charge twice. Raise CardDeclined when
    the bank refuses (or wants the customer present), GatewayError when Stripe cannot be reached.
    """
    metadata = {
        "topup_id": str(topup.pk),
        "topup_public_id": topup.public_id,
        "automatic": "1",
        "credits": str(topup.credits),
    }
    if is_sandbox():
        intent = sandbox_intent(topup=topup, payment_method_id=payment_method_id, customer_id=customer_id)
        if payment_method_id == SANDBOX_CARD_DECLINES:
            sandbox_event_post(event_type="payment_intent.payment_failed", obj=intent)
            raise CardDeclined(
                "Your card was declined.", code="card_declined", payment_intent_id=intent["id"]
            )
        sandbox_event_post(event_type="payment_intent.succeeded", obj=intent)
        return intent
    try:
        intent = _client().v1.payment_intents.create(
            params={
                "amount": topup.amount_cents,
                "currency": topup.currency,
                "customer": customer_id,
                "payment_method": payment_method_id,
                "off_session": True,
                "confirm": True,
                "description": f"{topup.credits:,} Artio credits (automatic top-up)",
                "metadata": metadata,
            },
            options={"idempotency_key": f"autotopup-{topup.public_id}"},
        )
    except stripe.CardError as exc:
        error = exc.error.to_dict() if exc.error is not None else {}
        intent_id = (error.get("payment_intent") or {}).get("id", "")
        raise CardDeclined(
            exc.user_message or str(exc), code=exc.code or "card_declined", payment_intent_id=intent_id
        ) from exc
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    return intent.to_dict()


def customer_create(*, account, email):
    """Create the account's Stripe Customer (once: the key makes a repeat return the same one)."""
    if is_sandbox():
        return f"cus_sandbox_{account.pk}"
    try:
        customer = _client().v1.customers.create(
            params={"email": email, "metadata": {"account_id": str(account.pk)}},
            options={"idempotency_key": f"account-{account.pk}-customer"},
        )
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    return customer.id


def subscription_checkout_create(*, account, plan, price_id, customer_id, success_url, cancel_url):
    """Open a Checkout Session (mode=subscription) for `plan`; return {"id", "url"}."""
    if is_sandbox():
        token = secrets.token_hex(8)
        url = reverse("billing-sandbox-subscribe", args=[plan.slug]) + f"?session={token}"
        return {"id": f"{SANDBOX_SESSION_PREFIX}sub_{token}", "url": url}
    metadata = {"account_id": str(account.pk), "plan": plan.slug}
    try:
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(account.user_id),
                "line_items": [{"price": price_id, "quantity": 1}],
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
                "success_url": success_url,
                "cancel_url": cancel_url,
            }
        )
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    return {"id": session.id, "url": session.url}


def portal_session_create(*, customer_id, return_url):
    """Open a Customer Portal session (manage card, cancel, reactivate); return its URL."""
    if is_sandbox():
        return reverse("billing-sandbox-portal")
    try:
        session = _client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    return session.url


def invoice_for_payment_intent(*, payment_intent_id):
    """Return the id of the invoice a PaymentIntent paid, or None when it paid none.

    Since API 2025-03-31 a charge no longer names its invoice; Stripe's InvoicePayments do.
    Raise GatewayError when Stripe cannot answer.
    """
    if not payment_intent_id or is_sandbox():
        return None
    try:
        page = _client().v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 1}
        )
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as exc:
        raise GatewayError(str(exc)) from exc
    rows = page.to_dict().get("data") or []
    return rows[0].get("invoice") if rows else None


def event_construct(*, payload, sig_header):
    """Verify the signature over the raw body and return the event as a dict.

    Raise InvalidEvent for a bad, stale or missing signature, a body that is not JSON, or JSON that
    is not an event.
    """
    try:
        event = stripe.Webhook.construct_event(payload, sig_header, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidEvent(str(exc)) from exc
    event = event.to_dict()
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if (
        not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(obj, dict)
    ):
        raise InvalidEvent("Not a Stripe event.")
    return event


# --- Sandbox: Stripe's far side, simulated --------------------------------------------------------


def sandbox_session(*, topup):
    """Return the Checkout Session Stripe would hold for this top-up."""
    paid = topup.sandbox_paid
    return {
        "id": SANDBOX_SESSION_PREFIX + topup.public_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete" if paid else "open",
        "payment_status": "paid" if paid else "unpaid",
        "amount_total": topup.amount_cents,
        "currency": topup.currency,
        "client_reference_id": str(topup.account.user_id),
        "metadata": {"topup_id": str(topup.pk), "topup_public_id": topup.public_id},
        "payment_intent": SANDBOX_INTENT_PREFIX + topup.public_id if paid else None,
        "livemode": False,
    }


def sandbox_intent(*, topup, payment_method_id, customer_id, succeeded=None):
    """Return the PaymentIntent Stripe would hold for this top-up's payment (checkout or automatic)."""
    if succeeded is None:
        succeeded = payment_method_id != SANDBOX_CARD_DECLINES
    metadata = {"topup_id": str(topup.pk), "topup_public_id": topup.public_id}
    if topup.automatic:
        metadata["automatic"] = "1"
    return {
        "id": SANDBOX_INTENT_PREFIX + topup.public_id,
        "object": "payment_intent",
        "amount": topup.amount_cents,
        "amount_received": topup.amount_cents if succeeded else 0,
        "currency": topup.currency,
        "customer": customer_id,
        "payment_method": payment_method_id,
        "status": "succeeded" if succeeded else "requires_payment_method",
        "last_payment_error": None
        if succeeded
        else {"code": "card_declined", "message": "Your card was declined."},
        "metadata": metadata,
        "livemode": False,
    }


def sandbox_event_send(*, topup, event_type):
    """Sign an event about this top-up's session exactly as Stripe does and POST it to our webhook.

    Return the webhook's HTTP status, or None when it could not be reached.
    """
    if not is_sandbox():
        raise ImproperlyConfigured("Sandbox events are only sent in sandbox mode.")
    session = sandbox_session(topup=topup)
    if event_type == "checkout.session.expired":
        session["status"] = "expired"
    event_id = f"evt_sandbox_{topup.public_id}_{event_type.rsplit('.', 1)[-1]}"
    return sandbox_event_post(event_type=event_type, obj=session, event_id=event_id)


def sandbox_event_post(*, event_type, obj, event_id=None):
    """Sign an event carrying `obj` as Stripe does and POST it to our webhook over HTTP.

    Return the webhook's HTTP status, or None when it could not be reached.
    """
    if not is_sandbox():
        raise ImproperlyConfigured("Sandbox events are only sent in sandbox mode.")
    now = int(time.time())
    event = {
        "id": event_id or f"evt_sandbox_{secrets.token_hex(12)}",
        "object": "event",
        "type": event_type,
        "api_version": stripe.api_version,
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        body, settings.STRIPE_WEBHOOK_SECRET, timestamp=now
    )
    try:
        response = requests.post(
            settings.ARTIO_PUBLIC_URL + WEBHOOK_PATH,
            data=body.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            timeout=10,
        )
    except requests.RequestException:
        return None
    return response.status_code


def sandbox_subscription(*, sub_id, account, plan, status, period, cancel_at_period_end=False):
    """Return the Subscription object Stripe would send for the sandbox's subscription."""
    start, end = period
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": account.stripe_customer_id,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"account_id": str(account.pk), "plan": plan.slug},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "price": {"id": plan.price_id or f"price_sandbox_{plan.slug}"},
                    "current_period_start": start,
                    "current_period_end": end,
                }
            ],
        },
        "livemode": False,
    }


def sandbox_invoice(*, invoice_id, sub_id, account, plan, paid, billing_reason, period):
    """Return the Invoice object (API 2025-03-31 shape) Stripe would send for the sandbox's subscription."""
    start, end = period
    intent = f"{SANDBOX_INTENT_PREFIX}{invoice_id}"
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": account.stripe_customer_id,
        "status": "paid" if paid else "open",
        "billing_reason": billing_reason,
        "amount_due": plan.price_cents,
        "amount_paid": plan.price_cents if paid else 0,
        "currency": plan.currency,
        "created": int(time.time()),
        "hosted_invoice_url": "",
        "invoice_pdf": "",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub_id,
                "metadata": {"account_id": str(account.pk), "plan": plan.slug},
            },
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{invoice_id}",
                    "amount": plan.price_cents,
                    "period": {"start": start, "end": end},
                    "pricing": {"price_details": {"price": plan.price_id or f"price_sandbox_{plan.slug}"}},
                }
            ],
        },
        "payments": {
            "data": [{"payment": {"type": "payment_intent", "payment_intent": intent}}] if paid else []
        },
        "livemode": False,
    }
