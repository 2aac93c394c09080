"""Staff tools in the admin: adjust balance, freeze / unfreeze, read-only money records."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.models import Account, LedgerEntry, LedgerKind

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/billing/account/"


@pytest.fixture
def account(alice):
    return services.account_for_user(user=alice)


def test_adjust_balance_asks_for_amount_and_reason_first(client, staff, account):
    client.force_login(staff)

    page = client.post(CHANGELIST, {"action": "adjust_balance", ACTION_CHECKBOX_NAME: [account.pk]})

    assert page.status_code == 200
    assert 'name="amount"' in page.content.decode()
    assert 'name="reason"' in page.content.decode()
    assert not LedgerEntry.objects.exists()


def test_adjust_balance_writes_an_adjustment_row_by_staff(client, staff, account):
    client.force_login(staff)

    response = client.post(
        CHANGELIST,
        {"action": "adjust_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", "amount": "-15",
         "reason": "Goodwill correction"},
    )  # fmt: skip

    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after) == (LedgerKind.ADJUSTMENT, -15, -15)
    assert entry.reference.startswith("adj:")
    assert entry.created_by == staff
    assert entry.description == "Goodwill correction"
    assert Account.objects.get(pk=account.pk).balance == -15


@pytest.mark.parametrize(
    "data", [{"amount": "0", "reason": "x"}, {"amount": "5", "reason": ""}, {"amount": "a"}]
)
def test_adjust_balance_rejects_bad_input(client, staff, account, data):
    client.force_login(staff)

    page = client.post(
        CHANGELIST, {"action": "adjust_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", **data}
    )

    assert page.status_code == 200
    assert "errorlist" in page.content.decode()
    assert not LedgerEntry.objects.exists()


def test_freeze_and_unfreeze_with_a_reason(client, staff, account):
    client.force_login(staff)

    client.post(
        CHANGELIST, {"action": "freeze", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", "reason": "KYC"}
    )
    account.refresh_from_db()
    assert account.frozen and account.frozen_reason == "KYC" and account.frozen_cause == "staff"

    client.post(
        CHANGELIST, {"action": "unfreeze", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", "reason": "ok"}
    )
    account.refresh_from_db()
    assert not account.frozen and account.frozen_reason == ""


def test_account_change_page_shows_ledger_inline_and_keeps_balance_read_only(client, staff, account):
    services.balance_adjust(account_id=account.pk, amount=9, reason="inline check")
    client.force_login(staff)

    page = client.get(f"{CHANGELIST}{account.pk}/change/").content.decode()
    client.post(
        f"{CHANGELIST}{account.pk}/change/",
        {"plan": "premium", "balance": "999999",
         "ledger-TOTAL_FORMS": "1", "ledger-INITIAL_FORMS": "1", "ledger-MIN_NUM_FORMS": "0",
         "ledger-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip

    assert "inline check" in page
    assert 'name="balance"' not in page
    account.refresh_from_db()
    assert account.balance == 9
    assert account.plan == "premium"


@pytest.mark.parametrize("model", ["ledgerentry", "topup", "stripeevent"])
def test_money_records_are_read_only(client, staff, model):
    client.force_login(staff)

    assert client.get(f"/admin/billing/{model}/").status_code == 200
    assert client.get(f"/admin/billing/{model}/add/").status_code == 403


def test_admin_is_staff_only(client, alice, account):
    client.force_login(alice)

    data = {"action": "adjust_balance", ACTION_CHECKBOX_NAME: [account.pk], "apply": "1", "amount": "1000"}
    response = client.post(CHANGELIST, {**data, "reason": "me"})

    assert response.status_code == 302
    assert not LedgerEntry.objects.exists()


def test_account_page_query_count_does_not_grow_with_the_ledger(client, staff, account):
    client.force_login(staff)
    url = f"{CHANGELIST}{account.pk}/change/"
    services.balance_adjust(account_id=account.pk, amount=1, reason="first", created_by=staff)
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    for i in range(10):
        services.balance_adjust(account_id=account.pk, amount=1, reason=f"more {i}", created_by=staff)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()

    assert "more 9" in page
    assert len(many.captured_queries) == len(few.captured_queries)
