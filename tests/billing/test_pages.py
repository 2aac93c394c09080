"""The billing pages over the test client: buying, the success page, receipts, the ledger, CSV."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import services
from billing.models import Account, BillingSettings, LedgerEntry, StripeEvent, TopUp, TopUpStatus
from catalog.models import CreditPack

from .conftest import make_event, session_obj

pytestmark = pytest.mark.django_db


@pytest.fixture
def pack(db):
    return CreditPack.objects.create(name="Test pack", price_cents=1000, credits=1100, sort_order=1)


def test_billing_page_requires_sign_in(client):
    response = client.get("/billing/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_billing_page_shows_balance_plan_packs_and_history(alice, client, pack):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=42, reason="Welcome gift")
    client.force_login(alice)

    page = client.get("/billing/").content.decode()

    assert "42" in page
    assert "Free" in page
    assert "1,100 credits" in page
    assert "0.91¢ per credit" in page
    assert "Credits added by Artio" in page
    assert "Welcome gift" not in page  # staff's reason is an internal note
    assert 'id="nav-balance">42<' in page


def test_nav_balance_and_past_due_banner_cost_one_query(alice, client, django_assert_num_queries, rf):
    from billing.context_processors import balance

    services.account_for_user(user=alice)
    request = rf.get("/")
    request.user = alice
    context = balance(request)

    with django_assert_num_queries(1):
        assert context["nav_balance"]() == 0
        assert context["nav_past_due"]() is None


def test_generation_rows_link_to_their_generation(alice, client):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=50, reason="seed")
    services.credits_charge(account_id=account.pk, amount=8, reference="gen_abc123")
    services.credits_refund(account_id=account.pk, amount=8, reference="gen_abc123")
    client.force_login(alice)

    page = client.get("/billing/").content.decode()

    assert page.count('href="/generations/gen_abc123/"') == 2


def test_ledger_history_is_paginated(alice, client):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=100, reason="seed")
    for i in range(30):
        services.credits_charge(account_id=account.pk, amount=1, reference=f"g{i}", description=f"row {i}")
    client.force_login(alice)

    first = client.get("/billing/").content.decode()
    second = client.get("/billing/?page=2").content.decode()

    assert "row 29" in first and "row 0" not in first
    assert "row 0" in second and "Page 2 of 2" in second


def test_buying_a_pack_in_the_sandbox_redirects_to_the_sandbox_checkout(alice, client, pack):
    client.force_login(alice)

    response = client.post("/billing/topup/", {"pack": pack.pk})

    topup = TopUp.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/billing/sandbox/checkout/{topup.public_id}/"
    assert (topup.amount_cents, topup.credits, topup.status) == (1000, 1100, TopUpStatus.PENDING)
    assert topup.stripe_session_id == f"cs_sandbox_{topup.public_id}"


def test_custom_amount_buys_credits_at_the_base_rate(alice, client):
    client.force_login(alice)

    client.post("/billing/topup/", {"amount": "12.50"})

    topup = TopUp.objects.get()
    assert (topup.amount_cents, topup.credits) == (1250, 1250)  # base rate $0.01 per credit


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", "The minimum top-up is $5.00."),
        ("500.01", "The maximum top-up is $500.00."),
        ("ten", "Enter the amount as a number of dollars"),
        ("", "Enter an amount, or pick a credit pack."),
        ("5.001", "at most 2 decimals"),
    ],
)
def test_bad_custom_amounts_get_a_clear_error_and_buy_nothing(amount, message, alice, client):
    client.force_login(alice)

    response = client.post("/billing/topup/", {"amount": amount})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TopUp.objects.exists()


def test_the_maximum_is_configurable(alice, client):
    limits = BillingSettings.load()
    limits.topup_max_cents = 100_000
    limits.save()
    client.force_login(alice)

    response = client.post("/billing/topup/", {"amount": "900"})

    assert response.status_code == 303
    assert TopUp.objects.get().amount_cents == 90_000


def test_inactive_pack_cannot_be_bought(alice, client, pack):
    pack.is_active = False
    pack.save()
    client.force_login(alice)

    response = client.post("/billing/topup/", {"pack": pack.pk})

    assert response.status_code == 400
    assert "not on sale" in response.content.decode()
    assert not TopUp.objects.exists()


def test_frozen_account_cannot_buy(alice, client, pack):
    account = services.account_for_user(user=alice)
    services.account_freeze(account_id=account.pk, reason="chargeback")
    client.force_login(alice)

    response = client.post("/billing/topup/", {"pack": pack.pk})

    assert response.status_code == 400
    assert "frozen" in response.content.decode()
    assert not TopUp.objects.exists()


def test_topup_is_post_only(alice, client):
    client.force_login(alice)

    assert client.get("/billing/topup/").status_code == 405


# --- The real (non-sandbox) path, against a fake of Stripe's API -------------------------------------


def test_checkout_session_is_created_with_metadata_and_idempotency_key(alice, client, pack, fake_stripe):
    client.force_login(alice)

    response = client.post("/billing/topup/", {"pack": pack.pk})

    topup = TopUp.objects.get()
    method, path, idempotency_key, form = fake_stripe.calls[0]
    assert (method, path) == ("post", "/v1/checkout/sessions")
    assert idempotency_key == f"topup-{topup.pk}-session"
    assert form["mode"] == ["payment"]
    assert form["metadata[topup_id]"] == [str(topup.pk)]
    assert form["payment_intent_data[metadata][topup_id]"] == [str(topup.pk)]
    assert form["line_items[0][price_data][unit_amount]"] == ["1000"]
    assert form["success_url"] == ["http://127.0.0.1:8000/billing/success/?session_id={CHECKOUT_SESSION_ID}"]
    assert response.status_code == 303
    assert response["Location"] == f"https://checkout.example.test/{topup.stripe_session_id}"


def test_success_page_fulfils_from_stripe_once_paid(alice, client, pack, fake_stripe):
    client.force_login(alice)
    client.post("/billing/topup/", {"pack": pack.pk})
    topup = TopUp.objects.get()

    waiting = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")
    fake_stripe.pay(topup.stripe_session_id)
    paid = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")

    assert "Confirming your payment" in waiting.content.decode()
    assert "1,100 credits added" in paid.content.decode()
    assert Account.objects.get(user=alice).balance == 1100


def test_refund_before_completion_is_mapped_through_the_payment_intent_metadata(
    alice, client, pack, fake_stripe, post_event
):
    client.force_login(alice)
    client.post("/billing/topup/", {"pack": pack.pk})
    topup = TopUp.objects.get()
    session = fake_stripe.pay(topup.stripe_session_id, payment_intent="pi_real_1")
    charge = {"id": "ch_1", "object": "charge", "amount_refunded": 1000, "payment_intent": "pi_real_1"}

    post_event(make_event("charge.refunded", charge))
    post_event(make_event("checkout.session.completed", session))

    topup.refresh_from_db()
    assert topup.refunded_cents == 1000
    assert Account.objects.get(user=alice).balance == 0


def test_refund_is_redelivered_when_stripe_cannot_say_whose_payment_it_was(
    alice, client, pack, fake_stripe, post_event
):
    client.force_login(alice)
    client.post("/billing/topup/", {"pack": pack.pk})
    topup = TopUp.objects.get()
    session = fake_stripe.pay(topup.stripe_session_id, payment_intent="pi_real_2")
    charge = {"id": "ch_2", "object": "charge", "amount_refunded": 1000, "payment_intent": "pi_real_2"}
    refund = make_event("charge.refunded", charge)

    # given Stripe's API is down when the refund arrives before the payment's completion
    fake_stripe.down = True
    first = post_event(refund)
    # then the event is not swallowed as "not ours": Stripe is told to deliver it again
    assert first.status_code == 500
    assert not StripeEvent.objects.exists()

    fake_stripe.down = False
    assert post_event(refund).status_code == 200
    post_event(make_event("checkout.session.completed", session))
    assert Account.objects.get(user=alice).balance == 0
    assert LedgerEntry.objects.filter(kind="refund_clawback").get().amount == -1100


def test_stripe_refusing_buys_nothing_and_says_so(alice, client, pack, fake_stripe, monkeypatch):
    from billing import stripe_gateway

    class Down(type(fake_stripe)):
        def request(self, *args, **kwargs):
            return '{"error": {"type": "invalid_request_error", "message": "refused"}}', 400, {}

    monkeypatch.setattr(stripe_gateway, "http_client_factory", lambda: Down())
    client.force_login(alice)

    response = client.post("/billing/topup/", {"pack": pack.pk}, follow=True)

    assert "could not reach our payment provider" in response.content.decode()
    assert TopUp.objects.get().status == TopUpStatus.FAILED
    assert not LedgerEntry.objects.exists()


# --- Success page, receipts, CSV --------------------------------------------------------------------


def test_success_page_for_another_users_session_is_404(alice, bob, client, make_topup):
    topup = make_topup(alice)
    client.force_login(bob)

    assert client.get(f"/billing/success/?session_id={topup.stripe_session_id}").status_code == 404
    assert client.get("/billing/success/?session_id=cs_nonexistent").status_code == 404


def test_success_page_returns_to_next_url_after_payment(alice, client, make_topup, post_event):
    topup = make_topup(alice)
    TopUp.objects.filter(pk=topup.pk).update(next_url="/generate/?model=google/imagen4-fast&prompt=cat")
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    client.force_login(alice)

    response = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")

    assert response.status_code == 302
    assert response["Location"] == "/generate/?model=google/imagen4-fast&prompt=cat"


@pytest.mark.parametrize(
    ("next_url", "kept"),
    [
        ("/generate/?model=x&prompt=a%20cat", "/generate/?model=x&prompt=a%20cat"),
        ("https://evil.example/", ""),
        ("//evil.example/", ""),
        ("/\\evil.example", ""),
        ("javascript:alert(1)", ""),
    ],
)
def test_next_is_kept_only_when_local(next_url, kept, alice, client, pack):
    client.force_login(alice)

    page = client.get("/billing/", {"next": next_url})
    client.post("/billing/topup/", {"pack": pack.pk, "next": next_url})

    assert TopUp.objects.get().next_url == kept
    if kept:
        assert "Back to where you were" in page.content.decode()


def test_receipt_is_owner_scoped(alice, bob, client, make_topup):
    topup = make_topup(alice)
    url = reverse("billing-receipt", args=[topup.public_id])

    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(alice)
    page = client.get(url)
    assert page.status_code == 200
    assert "$10.00" in page.content.decode()


def test_ledger_csv_lists_only_my_rows(alice, bob, client):
    mine = services.account_for_user(user=alice)
    theirs = services.account_for_user(user=bob)
    services.balance_adjust(account_id=mine.pk, amount=5, reason="Support ticket 12")
    services.balance_adjust(account_id=theirs.pk, amount=7, reason="bob's row")
    client.force_login(alice)

    response = client.get("/billing/ledger.csv")
    body = b"".join(response.streaming_content).decode()

    assert response["Content-Type"].startswith("text/csv")
    lines = body.strip().splitlines()
    assert lines[0] == "date,what,credits,balance,link"
    assert len(lines) == 2
    assert lines[1].endswith(",Credits added by Artio,5,5,")
    assert "Support ticket" not in body  # staff's reason is an internal note
    assert "adj:" not in body  # nor the row's internal reference
    assert "bob" not in body


@pytest.mark.parametrize("reason", ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)"])
def test_ledger_csv_defuses_spreadsheet_formulas(reason, alice, client):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=5, reason="seed")
    # A charge's description carries a model's name, which staff type in the admin.
    services.credits_charge(account_id=account.pk, amount=1, reference="gen_x", description=reason)
    client.force_login(alice)

    body = b"".join(client.get("/billing/ledger.csv").streaming_content).decode()

    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[1][1] == "'" + reason


def test_sandbox_pages_are_owner_scoped(alice, bob, client, make_topup):
    topup = make_topup(alice)
    client.force_login(bob)

    assert client.get(f"/billing/sandbox/checkout/{topup.public_id}/").status_code == 404
    assert client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/").status_code == 404
    topup.refresh_from_db()
    assert not topup.sandbox_paid


def test_sandbox_pages_do_not_exist_outside_the_sandbox(alice, client, make_topup, settings):
    topup = make_topup(alice)
    settings.STRIPE_SANDBOX = False
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    client.force_login(alice)

    assert client.get(f"/billing/sandbox/checkout/{topup.public_id}/").status_code == 404
    assert client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/").status_code == 404


def test_sandbox_refuses_to_run_beside_a_live_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    from billing import stripe_gateway

    settings.STRIPE_SANDBOX = True
    settings.STRIPE_SECRET_KEY = "sk_live_oops"

    with pytest.raises(ImproperlyConfigured):
        stripe_gateway.is_sandbox()


def test_need_parameter_suggests_the_smallest_pack_covering_the_shortfall(alice, client, pack):
    bigger = CreditPack.objects.create(name="Bigger", price_cents=2500, credits=3000, sort_order=2)
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=100, reason="seed")
    client.force_login(alice)

    response = client.get("/billing/", {"need": "1500"})

    assert response.context["shortfall"] == 1400
    assert response.context["suggested_pack"] == bigger
    assert "You need 1,400 more credits" in response.content.decode()


def _fill_history(user, make_topup, post_event, *, rows):
    """Give `user` a ledger of every kind of row the page describes, `rows` of each, and paid top-ups."""
    account = services.account_for_user(user=user)
    staff_user = type(user).objects.create_user(email=f"staff{rows}@example.com", password="x", is_staff=True)
    for i in range(rows):
        services.balance_adjust(account_id=account.pk, amount=10, reason=f"gift {i}", created_by=staff_user)
        services.credits_charge(account_id=account.pk, amount=1, reference=f"gen_{rows}_{i}")
        topup = make_topup(user)
        post_event(make_event("checkout.session.completed", session_obj(topup)))


def test_billing_page_runs_a_constant_number_of_queries(alice, client, make_topup, post_event):
    client.force_login(alice)
    _fill_history(alice, make_topup, post_event, rows=2)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/billing/").status_code == 200

    _fill_history(alice, make_topup, post_event, rows=6)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/billing/").content.decode()

    assert page.count("receipt</a>") == 8  # all 24 rows fit on the first page, each rendered
    assert len(many.captured_queries) == len(few.captured_queries)
