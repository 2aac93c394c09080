from django.urls import path

from . import views

urlpatterns = [
    path("generate/", views.placeholder, {"title": "generate"}, name="generate"),
    path("generations/", views.placeholder, {"title": "generation-list"}, name="generation-list"),
]
api_urlpatterns = []
