"""Make the database itself refuse UPDATE and DELETE of ledger rows (PostgreSQL only).

The ORM refuses them too (billing.models.LedgerQuerySet); the trigger also stops raw SQL, a shell and
any other client. Row triggers do not fire on TRUNCATE, so test flushes still empty the table.
SQLite has no such guard here: it serves development and tests only.
"""

from django.db import migrations

FUNCTION = "billing_ledger_append_only"
TRIGGER = "billing_ledger_append_only"


def _table(apps, schema_editor):
    return schema_editor.quote_name(apps.get_model("billing", "LedgerEntry")._meta.db_table)


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # restrict_violation (23001): an integrity rule refused the change, as ON DELETE RESTRICT does.
    schema_editor.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger rows are append-only'
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Post a correcting row instead.';
        END
        $$
        """
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {_table(apps, schema_editor)} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {_table(apps, schema_editor)}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_topups_stripe_events"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger, elidable=False),
    ]
