from django.urls import path

from . import api, views

urlpatterns = [
    path("generate/", views.generate, name="generate"),
    path("generate/quote/", views.generate_quote, name="generate-quote"),
    path("generations/", views.generation_list, name="generation-list"),
    path("generations/<str:public_id>/", views.generation_detail, name="generation-detail"),
    path("generations/<str:public_id>/rerun/", views.generation_rerun, name="generation-rerun"),
    path("generations/<str:public_id>/cancel/", views.generation_cancel, name="generation-cancel"),
    path("generations/<str:public_id>/delete/", views.generation_delete, name="generation-delete"),
    path("account/webhook-deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path("generation/kie/callback/<str:token>/", views.kie_callback, name="generation-kie-callback"),
]

# Mounted under /api/v1/ by the root URLconf.
api_urlpatterns = [
    path("quotes", api.QuoteApi.as_view(), name="api-quotes"),
    path("generations", api.GenerationListCreateApi.as_view(), name="api-generations"),
    path("generations/<str:public_id>", api.GenerationDetailApi.as_view(), name="api-generation-detail"),
]
