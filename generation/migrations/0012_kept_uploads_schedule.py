"""The daily sweep of image inputs kept for a form that came back with an error and was never sent
again (generation.kept). Idempotent: looked up by name."""

from django.db import migrations

SCHEDULE = "generation-kept-uploads-expire"


def schedule_create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "generation.tasks.kept_uploads_expire",
            "schedule_type": "D",  # Schedule.DAILY
            "repeats": -1,
        },
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("generation", "0011_library_favourites_collections_exports"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
