from django.core.management.base import BaseCommand

from generation.examples import examples_seed


class Command(BaseCommand):
    help = (
        "Draw a sample image (AIModel.sample_image) for every active model that has none, "
        "with the KIE sandbox's renderer. --force redraws them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Redraw every model's sample.")

    def handle(self, *args, force=False, **options):
        drawn = examples_seed(force=force)
        if drawn:
            self.stdout.write(f"Samples: drew {len(drawn)} ({', '.join(drawn)}).")
        else:
            self.stdout.write("Samples: every active model has one.")
