from django.apps import AppConfig


class ArtioConfig(AppConfig):
    name = "artio"
    verbose_name = "Users and API keys"

    def ready(self):
        # Registers the deploy checks (manage.py check --deploy).
        from . import checks  # noqa: F401
