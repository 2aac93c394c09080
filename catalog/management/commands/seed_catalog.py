from django.core.management.base import BaseCommand

from catalog.services import catalog_seed


class Command(BaseCommand):
    help = "Create the seed catalogue's missing models, prices, credit packs and settings. Never edits rows."

    def handle(self, *args, **options):
        counts = catalog_seed()
        created = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        self.stdout.write(f"Catalogue: created {created}." if created else "Catalogue: up to date.")
