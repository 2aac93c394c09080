"""Pages and API views of the project package: account pages such as API keys."""

from django.shortcuts import render
from django.urls import path


def placeholder(request, title="Artio"):
    return render(request, "placeholder.html", {"title": title})


urlpatterns = [path("account/api-keys/", placeholder, {"title": "API keys"}, name="api-keys")]
api_urlpatterns = []
