from django.urls import path

from . import views

urlpatterns = [
    path("generate/", views.generate, name="generate"),
    path("generate/quote/", views.generate_quote, name="generate-quote"),
    path("generations/", views.generation_list, name="generation-list"),
    path("generations/<str:public_id>/", views.generation_detail, name="generation-detail"),
    path("generations/<str:public_id>/rerun/", views.generation_rerun, name="generation-rerun"),
    path("generations/<str:public_id>/cancel/", views.generation_cancel, name="generation-cancel"),
    path("generations/<str:public_id>/delete/", views.generation_delete, name="generation-delete"),
    path("generation/kie/callback/<str:token>/", views.kie_callback, name="generation-kie-callback"),
]

# The partner API routes are in artio/views.py (api_urlpatterns there); none here.
api_urlpatterns = []
