"""Take over the partner webhook delivery log from the artio app (rows kept, table renamed), and
point pending webhook retries at the task's new home."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

OLD_TASK, NEW_TASK = "artio.tasks.partner_webhook_send", "generation.tasks.partner_webhook_send"


def retries_repoint(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=OLD_TASK).update(func=NEW_TASK)


def retries_restore(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=NEW_TASK).update(func=OLD_TASK)


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0005_gallery_index_with_id"),
        ("artio", "0004_partner_terms_per_user"),
        ("billing", "0002_topups_stripe_events"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("generation_public_id", models.CharField(db_index=True, max_length=40)),
                        ("event_type", models.CharField(max_length=40)),
                        ("url", models.URLField(max_length=2000)),
                        ("attempt", models.PositiveSmallIntegerField()),
                        ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("duration_ms", models.PositiveIntegerField(blank=True, null=True)),
                        ("succeeded", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="billing.account")),
                    ],
                    options={
                        "db_table": "artio_webhookdelivery",
                        "verbose_name_plural": "webhook deliveries",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["account", "-created_at"], name="webhook_account_recent")],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("generation_public_id", "event_type", "attempt"), name="webhook_attempt_once"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="webhookdelivery", table=None),
        migrations.RunPython(retries_repoint, retries_restore),
    ]
