from django.urls import path

import artio.converters  # noqa: F401 (registers the converters)

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
]

# Mounted under /api/v1/. Slugs contain "/" (google/imagen4), hence the path converter.
api_urlpatterns = [
    path("models", api.ModelListApi.as_view(), name="api-models"),
    path("models/<model_slug:slug>", api.ModelDetailApi.as_view(), name="api-model"),
]
