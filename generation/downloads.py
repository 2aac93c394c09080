"""Readable file names for downloads: artio-a-paper-boat-on-a-lake-imagen4-fast-1.png.

Stored files keep their random names (the URL is the secret); only the name the browser saves
under is readable. Local storage answers `?download=1` itself (views.image_serve); S3 is asked
to send the same Content-Disposition through its signed URL's ResponseContentDisposition.
"""

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.text import slugify

PROMPT_WORDS = 8
PROMPT_CHARS = 48


def _prompt_slug(prompt):
    words = slugify(prompt or "").split("-")[:PROMPT_WORDS]
    slug = "-".join(w for w in words if w)[:PROMPT_CHARS].strip("-")
    return slug or "image"


def download_name(*, prompt, model_slug, position, file_name):
    """Return the name a downloaded image is saved under (ASCII, no quotes or slashes)."""
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else "png"
    model = slugify(model_slug.rsplit("/", 1)[-1]) or "model"
    return f"artio-{_prompt_slug(prompt)}-{model}-{position + 1}.{ext}"


def image_download_name(image):
    generation = image.generation
    return download_name(
        prompt=generation.prompt,
        model_slug=generation.model.slug,
        position=image.position,
        file_name=image.file.name,
    )


def content_disposition(name):
    return f'attachment; filename="{name}"'


def local_storage():
    return settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")


def image_download_url(image):
    """Return a URL that downloads `image` under its readable name."""
    if local_storage():
        return f"{image.file.url}?download=1"
    disposition = content_disposition(image_download_name(image))
    return default_storage.url(image.file.name, parameters={"ResponseContentDisposition": disposition})
