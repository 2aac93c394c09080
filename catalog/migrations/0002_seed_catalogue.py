"""Load the seed catalogue (docs/reference/kie-pricing-seed.md) so a fresh database can sell right away."""

from django.db import migrations

from catalog.services import catalog_seed_migration


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        # Reversing leaves the rows: staff may have edited them since.
        migrations.RunPython(catalog_seed_migration, migrations.RunPython.noop),
    ]
