"""The partner discount now lives in artio.PartnerSettings (copied there by artio 0004); Django's
internal lookups of ledger rows use the append-only queryset too."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_ledger_append_only"),
        ("artio", "0004_partner_terms_per_user"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="account", name="account_discount_at_most_100"),
        migrations.RemoveField(model_name="account", name="discount_percent"),
        migrations.AlterModelOptions(
            name="ledgerentry",
            options={
                "base_manager_name": "objects",
                "ordering": ["-created_at", "-id"],
                "verbose_name_plural": "ledger entries",
            },
        ),
    ]
