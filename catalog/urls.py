from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("pricing/", views.pricing, name="pricing"),
]

# Mounted under /api/v1/. Slugs contain "/" (google/imagen4), hence the path converter.
api_urlpatterns = [
    path("models", api.ModelListApi.as_view(), name="api-models"),
    path("models/<path:slug>", api.ModelDetailApi.as_view(), name="api-model"),
]
