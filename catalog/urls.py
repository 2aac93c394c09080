from django.urls import path

from . import views

urlpatterns = [
    path("", views.placeholder, {"title": "home"}, name="home"),
    path("pricing/", views.placeholder, {"title": "pricing"}, name="pricing"),
]
api_urlpatterns = []
