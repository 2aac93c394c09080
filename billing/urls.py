from django.urls import path

from . import views

urlpatterns = [
    path("billing/", views.placeholder, {"title": "billing"}, name="billing"),
]
api_urlpatterns = []
