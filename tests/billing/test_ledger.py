"""The ledger's invariants: audit_ledger, grant_credits, and no overdraft or double credit under races."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection

from billing import payments, services
from billing.models import Account, LedgerEntry, LedgerKind
from billing.selectors import ledger_audit

from .conftest import charge_obj, dispute_obj, make_event, session_obj


@pytest.mark.django_db
def test_audit_ledger_passes_on_a_sound_ledger(alice, capsys):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=30, reason="x")
    services.credits_charge(account_id=account.pk, amount=10, reference="gen_1")

    call_command("audit_ledger")

    assert "passed" in capsys.readouterr().out


@pytest.mark.django_db
def test_audit_ledger_detects_a_balance_that_drifted(alice, capsys):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=30, reason="x")
    Account.objects.filter(pk=account.pk).update(balance=31)  # a write that skipped the ledger

    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_ledger")

    assert exit_info.value.code == 1
    assert f"account {account.pk}: balance 31 != sum of ledger 30" in capsys.readouterr().err


@pytest.mark.django_db
def test_audit_ledger_detects_broken_balance_after_continuity(alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=30, reason="x")
    # Rows cannot be edited, so the damage a buggy writer can do is insert a row that miscounts.
    entry = LedgerEntry.objects.create(
        account=account, amount=5, kind=LedgerKind.ADJUSTMENT, reference="bad", balance_after=40
    )

    problems = ledger_audit()

    assert any(f"entry {entry.pk} has balance_after 40, expected 35" in p for p in problems)


@pytest.mark.django_db
def test_grant_credits_writes_an_adjustment(alice, capsys):
    call_command("grant_credits", "ALICE@example.com", "250", "--reason", "Support ticket 12")

    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.description) == (LedgerKind.ADJUSTMENT, 250, "Support ticket 12")
    assert Account.objects.get(user=alice).balance == 250
    assert "balance now 250" in capsys.readouterr().out


@pytest.mark.django_db
def test_grant_credits_refuses_unknown_users():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("grant_credits", "nobody@example.com", "5", "--reason", "x")


@pytest.mark.django_db
def test_charge_refuses_negative_balance(alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=-5, reason="debt")

    with pytest.raises(services.InsufficientCredits):
        services.credits_charge(account_id=account.pk, amount=1, reference="gen_1")
    assert Account.objects.get(pk=account.pk).balance == -5


@pytest.mark.django_db
def test_ledger_rows_cannot_be_zero_or_unreferenced(alice):
    from django.db import IntegrityError, transaction

    account = services.account_for_user(user=alice)
    for kwargs in ({"amount": 0, "reference": "r"}, {"amount": 1, "reference": ""}):
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerEntry.objects.create(account=account, kind="adjustment", balance_after=0, **kwargs)


def _run_threads(count, fn):
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_100_concurrent_charges_never_overdraw(alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=100, reason="race")

    def charge(i):
        try:
            services.credits_charge(account_id=account.pk, amount=10, reference=f"gen_race_{i}")
            return True
        except services.InsufficientCredits:
            return False

    results = _run_threads(100, charge)

    assert results.count(True) == 10
    assert Account.objects.get(pk=account.pk).balance == 0
    assert LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count() == 10
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_checkout_event_delivered_20_times_concurrently_credits_once(alice, make_topup):
    from django.test import Client

    from .conftest import sign

    topup = make_topup(alice)
    body = json.dumps(make_event("checkout.session.completed", session_obj(topup), evt_id="evt_race"))

    def deliver(i):
        response = Client().post(
            "/billing/stripe/webhook/", data=body, content_type="application/json",
            headers={"Stripe-Signature": sign(body)},
        )  # fmt: skip
        return response.status_code

    statuses = _run_threads(20, deliver)

    assert statuses == [200] * 20
    assert Account.objects.get(user=alice).balance == 2000
    assert LedgerEntry.objects.filter(kind=LedgerKind.TOPUP).count() == 1
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_session_under_20_event_ids_concurrently_credits_once(alice, make_topup):
    topup = make_topup(alice)

    def deliver(i):
        return payments.stripe_event_process(
            event=make_event("checkout.session.completed", session_obj(topup), evt_id=f"evt_many_{i}")
        )

    assert _run_threads(20, deliver) == [True] * 20
    assert Account.objects.get(user=alice).balance == 2000
    assert ledger_audit() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_charges_racing_a_dispute_and_a_refund_keep_the_ledger_continuous(alice, make_topup):
    # given a paid $10 top-up (2000 credits)
    topup = make_topup(alice)
    payments.stripe_event_process(event=make_event("checkout.session.completed", session_obj(topup)))
    account = Account.objects.get(user=alice)

    # when 40 charges of 10 race a partial refund and a dispute of that payment
    def act(i):
        if i == 0:
            return payments.stripe_event_process(
                event=make_event("charge.refunded", charge_obj(topup, amount_refunded=250))
            )
        if i == 1:
            return payments.stripe_event_process(
                event=make_event("charge.dispute.created", dispute_obj(topup, status="needs_response"))
            )
        try:
            services.credits_charge(account_id=account.pk, amount=10, reference=f"gen_mixed_{i}")
            return "charged"
        except (services.InsufficientCredits, services.AccountFrozen):
            return "refused"

    results = _run_threads(42, act)

    # then every credit is accounted for: all 2000 taken back, each charge a debt, the account frozen
    charged = results.count("charged")
    account.refresh_from_db()
    assert account.frozen
    assert account.balance == -10 * charged
    assert LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count() == charged
    assert ledger_audit() == []
