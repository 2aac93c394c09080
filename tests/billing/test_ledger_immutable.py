"""Ledger rows are append-only: the ORM refuses to change or remove them, and PostgreSQL refuses too."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import IntegrityError, connection, models, transaction

from billing import services
from billing.models import Account, LedgerEntry, LedgerImmutable, LedgerKind
from billing.selectors import ledger_audit

pytestmark = pytest.mark.django_db


def _stored(entry):
    """Return the row as the database holds it, every column."""
    return LedgerEntry.objects.filter(pk=entry.pk).values().get()


@pytest.fixture
def entry(alice):
    account = services.account_for_user(user=alice)
    services.balance_adjust(account_id=account.pk, amount=30, reason="opening")
    return services.balance_adjust(account_id=account.pk, amount=-5, reason="correction")


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda e: LedgerEntry.objects.filter(pk=e.pk).update(amount=500), id="update"),
        pytest.param(lambda e: e.account.ledger.update(balance_after=0), id="related-update"),
        pytest.param(lambda e: LedgerEntry.objects.filter(pk=e.pk).delete(), id="delete"),
        pytest.param(lambda e: e.account.ledger.all().delete(), id="related-delete"),
        pytest.param(lambda e: LedgerEntry.objects.bulk_update([e], ["amount"]), id="bulk_update"),
        pytest.param(
            lambda e: LedgerEntry.objects.update_or_create(pk=e.pk, defaults={"amount": 500}),
            id="update_or_create",
        ),
    ],
)
def test_queryset_writes_to_existing_rows_are_refused(entry, write):
    before = _stored(entry)
    entry.amount = 500

    with pytest.raises(LedgerImmutable, match="append-only"):
        write(entry)

    assert _stored(entry) == before
    assert LedgerEntry.objects.count() == 2
    assert ledger_audit() == []


def test_saving_a_loaded_row_is_refused(entry):
    before = _stored(entry)
    loaded = LedgerEntry.objects.get(pk=entry.pk)
    loaded.amount, loaded.balance_after = -50, -20

    with pytest.raises(LedgerImmutable):
        loaded.save()
    with pytest.raises(LedgerImmutable):
        loaded.save(update_fields=["amount"])

    assert _stored(entry) == before
    assert ledger_audit() == []


def test_a_new_instance_with_an_existing_pk_cannot_overwrite_it(entry):
    before = _stored(entry)
    forged = LedgerEntry(**{**before, "amount": -50, "balance_after": -20})

    with pytest.raises(IntegrityError), transaction.atomic():
        forged.save()

    assert _stored(entry) == before


def test_deleting_a_row_is_refused(entry):
    before = _stored(entry)

    with pytest.raises(LedgerImmutable):
        entry.delete()

    assert _stored(entry) == before


def test_new_rows_are_still_inserted(entry):
    services.balance_adjust(account_id=entry.account_id, amount=7, reason="more")

    assert Account.objects.get(pk=entry.account_id).balance == 32
    assert LedgerEntry.objects.filter(account_id=entry.account_id).count() == 3
    assert ledger_audit() == []


def test_no_deletion_cascades_into_or_nulls_ledger_rows():
    """Every parent of a ledger row protects it: CASCADE would delete rows, SET_NULL would update them."""
    parents = [f for f in LedgerEntry._meta.get_fields() if f.many_to_one]

    assert {f.name for f in parents} == {"account", "created_by", "topup"}
    assert all(f.remote_field.on_delete is models.PROTECT for f in parents)


def test_deleting_the_owner_is_refused_and_keeps_the_ledger(entry):
    with pytest.raises(models.ProtectedError), transaction.atomic():
        entry.account.user.delete()

    assert LedgerEntry.objects.filter(account_id=entry.account_id).count() == 2


def test_admin_offers_no_way_to_edit_or_delete_rows(client, staff, entry):
    client.force_login(staff)
    before = _stored(entry)
    url = f"/admin/billing/ledgerentry/{entry.pk}/"

    changelist = client.get("/admin/billing/ledgerentry/")
    action = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [entry.pk], "post": "yes"}
    bulk_delete = client.post("/admin/billing/ledgerentry/", action)
    change = client.post(f"{url}change/", {"amount": "500", "balance_after": "0"})
    delete = client.post(f"{url}delete/", {"post": "yes"})

    assert "delete_selected" not in changelist.content.decode()
    assert bulk_delete.status_code == 200  # no such action here: the list is shown again
    assert change.status_code == 403
    assert delete.status_code == 403
    assert _stored(entry) == before


def _raw(sql, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(LedgerEntry._meta.db_table)), params)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("UPDATE {table} SET amount = 500, balance_after = 525 WHERE id = %s", id="update"),
        pytest.param("DELETE FROM {table} WHERE id = %s", id="delete"),
    ],
)
def test_postgresql_refuses_raw_sql_that_changes_a_row(entry, sql):
    before = _stored(entry)

    with pytest.raises(IntegrityError, match="ledger rows are append-only"), transaction.atomic():
        _raw(sql, entry.pk)

    assert _stored(entry) == before
    assert ledger_audit() == []


@pytest.mark.postgres
def test_postgresql_still_inserts_raw_rows(entry):
    _raw(
        "INSERT INTO {table} (account_id, amount, kind, reference, description, balance_after, created_at)"
        " VALUES (%s, 1, %s, 'raw-insert', '', 26, now())",
        entry.account_id,
        LedgerKind.ADJUSTMENT,
    )

    assert LedgerEntry.objects.filter(reference="raw-insert").exists()
