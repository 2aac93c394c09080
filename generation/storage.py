"""Result images in Django's default storage: verified, measured, thumbnailed, randomly named."""

import io
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

# What we accept, from KIE's results and from users' uploads alike.
IMAGE_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}
THUMBNAIL_SIZE = (384, 384)
# Refuse decompression bombs well before Pillow's own (warning-only) limit.
MAX_PIXELS = 64_000_000


class ImageInvalid(Exception):
    """The bytes are not an image we accept; the message is fit to show."""


def image_inspect(content):
    """Return (content_type, extension, width, height) of image bytes, or raise ImageInvalid.

    The declared content type is not trusted: Pillow reads the bytes and must recognise PNG, JPEG
    or WebP, and `verify()` must pass.
    """
    try:
        with Image.open(io.BytesIO(content)) as probe:
            fmt, (width, height) = probe.format, probe.size
            if fmt not in IMAGE_FORMATS:
                raise ImageInvalid("Only PNG, JPEG and WebP images are accepted.")
            if width * height > MAX_PIXELS:
                raise ImageInvalid("The image has too many pixels.")
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInvalid("This file is not a PNG, JPEG or WebP image.") from exc
    content_type, ext = IMAGE_FORMATS[fmt]
    return content_type, ext, width, height


def _thumbnail(content):
    with Image.open(io.BytesIO(content)) as image:
        image.thumbnail(THUMBNAIL_SIZE)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, "WEBP", quality=80)
        return out.getvalue()


def image_save(*, content):
    """Store image bytes and a WebP thumbnail under random names; return the GenerationImage fields.

    Raises ImageInvalid for anything that is not a PNG/JPEG/WebP image.
    """
    content_type, ext, width, height = image_inspect(content)
    folder = timezone.now().strftime("generations/%Y/%m")
    stem = secrets.token_urlsafe(18)
    name = default_storage.save(f"{folder}/{stem}.{ext}", ContentFile(content))
    thumb = default_storage.save(f"{folder}/{stem}.thumb.webp", ContentFile(_thumbnail(content)))
    return {
        "file": name,
        "thumbnail": thumb,
        "width": width,
        "height": height,
        "content_type": content_type,
        "bytes": len(content),
    }


def image_delete(*, fields):
    """Remove the files of an image_save() result that lost a race and will not be recorded."""
    for key in ("file", "thumbnail"):
        if fields.get(key):
            default_storage.delete(fields[key])
