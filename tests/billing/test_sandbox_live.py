"""The sandbox checkout end to end: "Pay" posts a signed event over real HTTP to the real webhook."""

import pytest

from billing.models import Account, LedgerEntry, LedgerKind, StripeEvent, TopUp, TopUpStatus
from catalog.models import CreditPack


@pytest.fixture
def live_public_url(live_server, settings):
    settings.ARTIO_PUBLIC_URL = live_server.url
    return live_server.url


@pytest.mark.django_db(transaction=True)
def test_sandbox_pay_credits_through_the_real_webhook(alice, client, live_public_url):
    pack = CreditPack.objects.create(name="Live", price_cents=500, credits=500, sort_order=1)
    client.force_login(alice)

    # given a top-up started from the billing page, with a page to come back to
    start = client.post("/billing/topup/", {"pack": pack.pk, "next": "/generate/?model=m&prompt=cat"})
    topup = TopUp.objects.get()
    checkout = client.get(start["Location"])
    assert "SANDBOX" in checkout.content.decode()

    # when the user presses Pay on the sandbox page
    paid = client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")

    # then the webhook (reached over HTTP) stored the event and credited once, and the user goes back
    event = StripeEvent.objects.get()
    assert event.type == "checkout.session.completed"
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PAID
    assert Account.objects.get(user=alice).balance == 500
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1
    success = client.get(paid["Location"])
    assert success.status_code == 302
    assert success["Location"] == "/generate/?model=m&prompt=cat"
    page = client.get("/billing/").content.decode()
    assert "Top-up of $5.00" in page

    # and pressing Pay again changes nothing
    client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")
    assert Account.objects.get(user=alice).balance == 500


@pytest.mark.django_db(transaction=True)
def test_sandbox_cancel_expires_the_topup(alice, client, live_public_url):
    client.force_login(alice)
    client.post("/billing/topup/", {"amount": "5"})
    topup = TopUp.objects.get()

    response = client.post(f"/billing/sandbox/checkout/{topup.public_id}/cancel/")

    assert response.status_code == 302
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.EXPIRED
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sandbox_pay_still_credits_via_success_page_when_webhook_unreachable(alice, client, settings):
    settings.ARTIO_PUBLIC_URL = "http://127.0.0.1:9"  # nothing listens: delivery fails
    client.force_login(alice)
    client.post("/billing/topup/", {"amount": "5"})
    topup = TopUp.objects.get()

    paid = client.post(f"/billing/sandbox/checkout/{topup.public_id}/pay/")
    success = client.get(paid["Location"])

    assert success.status_code == 200
    assert Account.objects.get(user=alice).balance == 500
    assert not StripeEvent.objects.exists()
