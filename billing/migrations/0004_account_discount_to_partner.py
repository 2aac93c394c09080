"""The partner discount now lives in artio.PartnerSettings (copied there by artio 0004)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_topups_stripe_events"),
        ("artio", "0004_partner_terms_per_user"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="account", name="account_discount_at_most_100"),
        migrations.RemoveField(model_name="account", name="discount_percent"),
    ]
