"""Billing test helpers: signed Stripe events and an in-process fake of Stripe's API (its far side)."""

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from decimal import Decimal

import pytest
import stripe

from billing import payments, stripe_gateway
from billing.models import TopUp
from catalog.models import CatalogSettings

WHSEC = "whsec_test_secret"  # tests/testenv.py sets STRIPE_WEBHOOK_SECRET to this


def sign(payload, secret=WHSEC, t=None):
    """Return a Stripe-Signature header for `payload`, computed by hand as Stripe documents it."""
    t = int(time.time()) if t is None else t
    v1 = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


_event_ids = itertools.count(1)


def make_event(type_, obj, evt_id=None):
    return {
        "id": evt_id or f"evt_test_{next(_event_ids)}",
        "object": "event",
        "type": type_,
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def session_obj(topup, **overrides):
    obj = {
        "id": topup.stripe_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": topup.amount_cents,
        "currency": "usd",
        "client_reference_id": str(topup.account.user_id),
        "metadata": {"topup_id": str(topup.pk), "user_id": str(topup.account.user_id)},
        "payment_intent": f"pi_{topup.public_id}",
    }
    obj.update(overrides)
    return obj


def charge_obj(topup, *, amount_refunded, charge_id=None, payment_intent=None):
    return {
        "id": charge_id or f"ch_{topup.public_id}",
        "object": "charge",
        "amount": topup.amount_cents,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= topup.amount_cents,
        "payment_intent": payment_intent or f"pi_{topup.public_id}",
        "currency": "usd",
    }


def dispute_obj(topup, *, status, dispute_id=None, payment_intent=None):
    return {
        "id": dispute_id or f"dp_{topup.public_id}",
        "object": "dispute",
        "amount": topup.amount_cents,
        "charge": f"ch_{topup.public_id}",
        "payment_intent": payment_intent or f"pi_{topup.public_id}",
        "status": status,
        "reason": "fraudulent",
        "is_charge_refundable": False,
        "currency": "usd",
    }


@pytest.fixture
def post_event(client):
    """POST a signed event to the webhook; `body` replaces the signed bytes (to tamper)."""

    def post(event, *, secret=WHSEC, t=None, body=None, header=None, http_client=None):
        payload = json.dumps(event)
        signature = sign(payload, secret, t) if header is None else header
        headers = {"Stripe-Signature": signature} if signature else {}
        return (http_client or client).post(
            "/billing/stripe/webhook/",
            data=payload if body is None else body,
            content_type="application/json",
            headers=headers,
        )

    return post


@pytest.fixture
def half_cent_rate(db):
    """Price credits like docs/reference/stripe.md's examples: $10 buys 2000 credits."""
    catalog = CatalogSettings.load()
    catalog.usd_per_credit = Decimal("0.005")
    catalog.save()
    return catalog


@pytest.fixture
def make_topup(half_cent_rate):
    """Return a factory of pending top-ups with a (sandbox) Checkout Session, as the Buy button makes."""

    def make(user, amount_cents=1000):
        topup = payments.topup_create(user=user, amount_cents=amount_cents)
        payments.topup_checkout_start(
            topup=topup, email=user.email, success_url="http://t/s?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://t/c",
        )  # fmt: skip
        return TopUp.objects.get(pk=topup.pk)

    return make


class FakeStripeHTTP(stripe.HTTPClient):
    """Stripe's API as far as Artio uses it: Checkout Sessions and PaymentIntents.

    See docs/reference/stripe.md §2.4.
    """

    name = "fake"

    def __init__(self):
        super().__init__()
        self.sessions, self.intents, self.calls, self._n = {}, {}, [], itertools.count(1)
        self.customers, self.invoice_payments = {}, {}  # invoice_payments: payment_intent -> invoice id
        self.down = False  # True: every call fails as Stripe does in an outage
        self.intent_keys, self.declines = {}, {}  # declines: payment method -> decline code

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        path = urllib.parse.urlsplit(url).path
        form = urllib.parse.parse_qs(post_data or "")
        self.calls.append((method, path, headers.get("Idempotency-Key"), form))
        if self.down:
            error = {"error": {"type": "api_error", "message": "fake: outage"}}
            return json.dumps(error), 500, {"Stripe-Should-Retry": "false"}
        if method == "post" and path == "/v1/customers":
            # Stripe replays the first answer for a repeated Idempotency-Key.
            key = headers.get("Idempotency-Key")
            customer = self.customers.get(key) or {"id": f"cus_test_{next(self._n)}", "object": "customer"}
            self.customers[key] = customer
            return json.dumps(customer), 200, {}
        if method == "post" and path == "/v1/billing_portal/sessions":
            portal = {"object": "billing_portal.session", "customer": form["customer"][0]}
            portal["url"] = "https://billing.example.test/portal"
            return json.dumps(portal), 200, {}
        if method == "get" and path == "/v1/invoice_payments":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            invoice = self.invoice_payments.get(query.get("payment[payment_intent]", [""])[0])
            rows = [{"object": "invoice_payment", "invoice": invoice}] if invoice else []
            return json.dumps({"object": "list", "data": rows, "has_more": False}), 200, {}
        if method == "post" and path == "/v1/checkout/sessions" and form["mode"][0] == "subscription":
            sid = f"cs_test_{next(self._n)}"
            metadata = {k[9:-1]: v[0] for k, v in form.items() if k.startswith("metadata[")}
            session = {
                "id": sid, "object": "checkout.session", "mode": "subscription", "status": "open",
                "customer": form["customer"][0], "price": form["line_items[0][price]"][0],
                "client_reference_id": form.get("client_reference_id", [None])[0], "metadata": metadata,
                "url": f"https://checkout.example.test/{sid}",
            }  # fmt: skip
            self.sessions[sid] = session
            return json.dumps(session), 200, {}
        if method == "post" and path == "/v1/checkout/sessions":
            sid = f"cs_test_{next(self._n)}"
            metadata = {k[9:-1]: v[0] for k, v in form.items() if k.startswith("metadata[")}
            session = {
                "id": sid,
                "object": "checkout.session",
                "mode": form["mode"][0],
                "status": "open",
                "payment_status": "unpaid",
                "currency": form["line_items[0][price_data][currency]"][0],
                "amount_total": int(form["line_items[0][price_data][unit_amount]"][0]),
                "client_reference_id": form.get("client_reference_id", [None])[0],
                "metadata": metadata,
                "url": f"https://checkout.example.test/{sid}",
                "payment_intent": None,
            }
            self.sessions[sid] = session
            return json.dumps(session), 200, {}
        if method == "post" and path == "/v1/payment_intents":
            return self._intent_create(form, headers.get("Idempotency-Key"))
        if method == "get" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session:
                return json.dumps(session), 200, {}
        if method == "get" and path.startswith("/v1/payment_intents/"):
            intent = self.intents.get(path.rsplit("/", 1)[1])
            if intent:
                return json.dumps(intent), 200, {}
        error = {"error": {"type": "invalid_request_error", "message": f"fake: no {path}"}}
        return json.dumps(error), 404, {}

    def close(self):
        pass

    def _intent_create(self, form, key):
        """An off-session charge: succeeds, or declines for a payment method in `self.declines`."""
        if key in self.intent_keys:  # Stripe replays the first answer for a repeated Idempotency-Key
            return self.intent_keys[key]
        metadata = {k[9:-1]: v[0] for k, v in form.items() if k.startswith("metadata[")}
        pid, pm = f"pi_auto_{next(self._n)}", form["payment_method"][0]
        code = self.declines.get(pm)
        intent = {
            "id": pid, "object": "payment_intent", "amount": int(form["amount"][0]),
            "amount_received": 0 if code else int(form["amount"][0]), "currency": form["currency"][0],
            "customer": form["customer"][0], "payment_method": pm, "metadata": metadata,
            "status": "requires_payment_method" if code else "succeeded",
            "last_payment_error": {"code": code, "message": "Your card was declined."} if code else None,
        }  # fmt: skip
        self.intents[pid] = intent
        if code:
            error = {
                "type": "card_error",
                "code": code,
                "message": "Your card was declined.",
                "payment_intent": intent,
            }
            answer = json.dumps({"error": error}), 402, {}
        else:
            answer = json.dumps(intent), 200, {}
        self.intent_keys[key] = answer
        return answer

    def pay(self, session_id, payment_intent="pi_fake_1"):
        """What Stripe's side does when the customer pays."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid", payment_intent=payment_intent)
        self.intents[payment_intent] = {
            "id": payment_intent,
            "object": "payment_intent",
            "metadata": session["metadata"],
        }
        return session


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """Leave the sandbox: the real gateway code talks to a fake Stripe API in process."""
    settings.STRIPE_SANDBOX = False
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    fake = FakeStripeHTTP()
    monkeypatch.setattr(stripe_gateway, "http_client_factory", lambda: fake)
    return fake
