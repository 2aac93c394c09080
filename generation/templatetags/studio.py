"""Template filters of the studio pages (generate, result, compare)."""

from django import template

from generation.downloads import image_download_url

register = template.Library()


@register.filter
def download_url(image):
    """{{ image|download_url }}: the image's URL that saves it under a readable name."""
    return image_download_url(image)
