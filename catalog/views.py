"""The public landing page. It renders with a constant number of queries, whatever the catalogue size.

The price list (/pricing/) shows billing's plans beside the catalogue, so it is billing's page.
"""

from django.shortcuts import render

from .selectors import showcase_for_landing


def home(request):
    showcase = showcase_for_landing()
    examples = [m for group in showcase.families for m in group.models if m.sample_image]
    return render(
        request,
        "catalog/home.html",
        {"families": showcase.families, "from_usd": showcase.from_usd, "examples": examples[:8]},
    )
