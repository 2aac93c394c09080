"""Partner settings and Idempotency-Key records belong to the user (artio's own model), not to the
billing account; the partner discount moves from the account to the partner settings; the webhook
delivery log moves to the generation app (its table is renamed there, the rows kept)."""

import secrets

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def owners_copy(apps, schema_editor):
    Account = apps.get_model("billing", "Account")
    PartnerSettings = apps.get_model("artio", "PartnerSettings")
    IdempotencyRecord = apps.get_model("artio", "IdempotencyRecord")
    user_of = dict(Account.objects.values_list("pk", "user_id"))
    for partner in PartnerSettings.objects.all():
        partner.user_id = user_of[partner.account_id]
        partner.save(update_fields=["user"])
    for record in IdempotencyRecord.objects.all():
        record.user_id = user_of[record.account_id]
        record.save(update_fields=["user"])
    for account in Account.objects.exclude(discount_percent=0):
        partner, _ = PartnerSettings.objects.get_or_create(
            account_id=account.pk,
            defaults={"user_id": account.user_id, "webhook_secret": "whsec_" + secrets.token_urlsafe(32)},
        )
        partner.discount_percent = account.discount_percent
        partner.save(update_fields=["discount_percent"])


class Migration(migrations.Migration):
    dependencies = [
        ("artio", "0003_idempotency_purge_schedule"),
        ("billing", "0002_topups_stripe_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="partnersettings",
            name="user",
            field=models.OneToOneField(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="partner",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="partnersettings",
            name="discount_percent",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="Partner discount applied to every quote and charge (0–100)."
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="user",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Forward only: going back would need the account of every user, which this step drops.
        migrations.RunPython(owners_copy),
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_once_per_account_key"),
        migrations.RemoveField(model_name="idempotencyrecord", name="account"),
        migrations.RemoveField(model_name="partnersettings", name="account"),
        migrations.AlterField(
            model_name="partnersettings",
            name="user",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE, related_name="partner", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AlterField(
            model_name="partnersettings",
            name="rate_limit_per_minute",
            field=models.PositiveIntegerField(
                default=120, help_text="API requests per minute allowed for each of this partner's keys."
            ),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(fields=("user", "key"), name="idempotency_once_per_user_key"),
        ),
        migrations.AddConstraint(
            model_name="partnersettings",
            constraint=models.CheckConstraint(
                condition=models.Q(("discount_percent__lte", 100)), name="partner_discount_at_most_100"
            ),
        ),
        # The table stays; generation's migration 0006 takes the model over and renames it.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WebhookDelivery")], database_operations=[]
        ),
    ]
