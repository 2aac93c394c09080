from django.apps import AppConfig


class ArtioConfig(AppConfig):
    name = "artio"
    verbose_name = "Users and API keys"
