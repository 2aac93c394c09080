"""Public catalogue pages. Each renders with a constant number of queries, whatever the catalogue size."""

from django.shortcuts import render

from .selectors import catalog_settings_get, credit_packs_active, models_for_pricing


def home(request):
    return render(request, "catalog/home.html", {"families": models_for_pricing()})


def pricing(request):
    return render(
        request,
        "catalog/pricing.html",
        {
            "families": models_for_pricing(),
            "packs": credit_packs_active(),
            "settings": catalog_settings_get(),
        },
    )
