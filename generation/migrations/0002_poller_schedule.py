"""Create the poller's django-q2 schedule once (idempotent: looked up by name)."""

from django.db import migrations


def schedule_create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="generation-poll",
        defaults={
            "func": "generation.tasks.generation_poll",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 1,
            "repeats": -1,
        },
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="generation-poll").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
