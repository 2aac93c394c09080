from django.urls import path

import artio.converters  # noqa: F401 (registers the converters)

from . import api, health, views

urlpatterns = [
    path("generate/", views.generate, name="generate"),
    path("generate/quote/", views.generate_quote, name="generate-quote"),
    path("generations/", views.generation_list, name="generation-list"),
    path("generations/<public_id:public_id>/", views.generation_detail, name="generation-detail"),
    path("generations/<public_id:public_id>/rerun/", views.generation_rerun, name="generation-rerun"),
    path("generations/<public_id:public_id>/cancel/", views.generation_cancel, name="generation-cancel"),
    path("generations/<public_id:public_id>/delete/", views.generation_delete, name="generation-delete"),
    path("account/webhook-deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path("generation/kie/callback/<str:token>/", views.kie_callback, name="generation-kie-callback"),
    path("healthz", health.healthz, name="healthz"),
]

# Mounted under /api/v1/ by the root URLconf.
api_urlpatterns = [
    path("quotes", api.QuoteApi.as_view(), name="api-quotes"),
    path("generations", api.GenerationListCreateApi.as_view(), name="api-generations"),
    path(
        "generations/<public_id:public_id>", api.GenerationDetailApi.as_view(), name="api-generation-detail"
    ),
]
