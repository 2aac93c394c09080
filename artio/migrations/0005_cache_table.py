"""The cache table the embedded default shares between processes (settings.CACHES without REDIS_URL).

A migration rather than `createcachetable` in `make setup`: every way a database is set up (make,
a deploy's `migrate`, the test database, the benchmarks) runs migrations. The table is created
whatever CACHES says at migrate time, so dropping Redis later still finds it.
"""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "artio_cache"  # settings.CACHES["default"]["LOCATION"]


def cache_table_create(apps, schema_editor):
    # Naming the table creates it even while CACHES points at Redis; an existing one is kept.
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def cache_table_drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("artio", "0004_partner_terms_per_user")]

    operations = [migrations.RunPython(cache_table_create, cache_table_drop, elidable=False)]
