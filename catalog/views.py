"""The public landing page. It renders with a constant number of queries, whatever the catalogue size.

The price list (/pricing/) shows billing's plans beside the catalogue, so it is billing's page.
"""

from django.shortcuts import render

from .selectors import models_for_pricing


def home(request):
    return render(request, "catalog/home.html", {"families": models_for_pricing()})
