from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The operator's view of the business: reconciliation with KIE, realised margins, alerts.

    The top layer: it reads generation, billing and catalog; none of them imports it.
    """

    name = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"
