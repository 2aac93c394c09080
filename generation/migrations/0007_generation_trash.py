"""Replace the `hidden` flag with a trash: `deleted_at` (hidden rows count as deleted now) and
`purged_at`; partial indexes for the gallery, the trash and the purge; an index per image path for
the media view; and the hourly purge schedule (idempotent: looked up by name)."""

from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

PURGE_SCHEDULE = "generation-trash-purge"


def hidden_to_deleted(apps, schema_editor):
    apps.get_model("generation", "Generation").objects.filter(hidden=True).update(deleted_at=timezone.now())


def deleted_to_hidden(apps, schema_editor):
    apps.get_model("generation", "Generation").objects.filter(deleted_at__isnull=False).update(hidden=True)


def schedule_create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=PURGE_SCHEDULE,
        defaults={
            "func": "generation.tasks.generations_purge",
            "schedule_type": "H",  # Schedule.HOURLY
            "repeats": -1,
        },
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=PURGE_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0006_webhook_delivery_from_artio"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="deleted_at",
            field=models.DateTimeField(blank=True, help_text="Moved to the trash by its owner.", null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="purged_at",
            field=models.DateTimeField(blank=True, help_text="Images deleted for good.", null=True),
        ),
        migrations.RunPython(hidden_to_deleted, deleted_to_hidden),
        migrations.RemoveIndex(model_name="generation", name="generation_gallery"),
        migrations.RemoveField(model_name="generation", name="hidden"),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=Q(deleted_at__isnull=True),
                fields=["owner", "-created_at", "-id"],
                name="generation_gallery",
            ),
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=Q(deleted_at__isnull=False, purged_at__isnull=True),
                fields=["owner", "-deleted_at"],
                name="generation_trash",
            ),
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=Q(deleted_at__isnull=False, purged_at__isnull=True),
                fields=["deleted_at"],
                name="generation_purge_due",
            ),
        ),
        migrations.AddIndex(
            model_name="generationimage",
            index=models.Index(fields=["file"], name="generation_image_file"),
        ),
        migrations.AddIndex(
            model_name="generationimage",
            index=models.Index(fields=["thumbnail"], name="generation_image_thumbnail"),
        ),
        migrations.RunPython(schedule_create, schedule_delete),
    ]
