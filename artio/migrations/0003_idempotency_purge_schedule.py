"""Schedule the hourly purge of Idempotency-Key records older than 24 h (idempotent: by name)."""

from django.db import migrations


def schedule_create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="idempotency-purge",
        defaults={
            "func": "artio.tasks.idempotency_purge",
            "schedule_type": "H",  # Schedule.HOURLY
            "repeats": -1,
        },
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="idempotency-purge").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("artio", "0002_partner_api"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
