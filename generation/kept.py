"""Image inputs that survive a form error: kept in our storage and named by a reference.

A form that comes back with an error (an empty prompt, say) would lose the file the user chose:
browsers never refill a file input. So each valid upload of a refused form is kept under a
random name in the user's own folder, and the form carries its reference in a hidden field
(`<field>__kept`). "Use as input" on a result works the same way with a reference to one of the
user's own images. At submit every reference is opened again, for its owner only, and goes
through the same checks and KIE upload as a fresh file.

References: `k:<token>.<ext>` (a kept upload) or `g:<public_id>:<position>` (a result image).
"""

import re
import secrets
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from . import selectors, storage

KEPT_RE = re.compile(r"^k:(?P<name>[A-Za-z0-9_-]{24}\.(?:png|jpg|webp))$")
IMAGE_RE = re.compile(r"^g:(?P<public_id>gen_[A-Za-z0-9]+):(?P<position>\d{1,3})$")
MAX_REFS = 16
# A form left with an error for a day is not coming back: its kept uploads go (daily sweep).
KEPT_HOURS = 24


def _kept_path(user, name):
    return f"kept/{user.pk}/{name}"


def upload_keep(*, user, upload):
    """Store a valid uploaded image for `user`; return its reference, or None if it is not an image."""
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    try:
        _type, ext, _w, _h = storage.image_inspect(content)
    except storage.ImageInvalid:
        return None  # its own error is shown; nothing to keep
    name = f"{secrets.token_urlsafe(18)}.{ext}"
    default_storage.save(_kept_path(user, name), ContentFile(content))
    return f"k:{name}"


def image_ref(*, public_id, position):
    return f"g:{public_id}:{position}"


def _kept_name(ref):
    match = KEPT_RE.match(ref or "")
    return match["name"] if match else None


def ref_open(*, user, ref):
    """Return the referenced image as an uploaded file, or None (unknown, gone, or not the user's)."""
    if name := _kept_name(ref):
        try:
            with default_storage.open(_kept_path(user, name)) as handle:
                content = handle.read()
        except (FileNotFoundError, OSError):
            return None
        ext = name.rsplit(".", 1)[1]
        return SimpleUploadedFile(f"input.{ext}", content, content_type=f"image/{ext.replace('jpg', 'jpeg')}")
    if match := IMAGE_RE.match(ref or ""):
        image = selectors.image_for_owner(
            user=user, public_id=match["public_id"], position=int(match["position"])
        )
        if image is None:
            return None
        try:
            with default_storage.open(image.file.name) as handle:
                content = handle.read()
        except (FileNotFoundError, OSError):
            return None
        return SimpleUploadedFile(
            image.file.name.rsplit("/", 1)[-1], content, content_type=image.content_type
        )
    return None


def refs_clean(refs):
    """Return the well-formed references among `refs` (from a form), at most MAX_REFS, in order."""
    good = [r for r in refs if KEPT_RE.match(r or "") or IMAGE_RE.match(r or "")]
    return list(dict.fromkeys(good))[:MAX_REFS]


def ref_preview_url(*, user, ref):
    """Return a URL showing the referenced image to its owner, or "" if it is gone."""
    if name := _kept_name(ref):
        return reverse("generate-kept", args=[name]) if default_storage.exists(_kept_path(user, name)) else ""
    if match := IMAGE_RE.match(ref or ""):
        image = selectors.image_for_owner(
            user=user, public_id=match["public_id"], position=int(match["position"])
        )
        if image is None:
            return ""
        return (image.thumbnail or image.file).url
    return ""


def kept_open_for_owner(*, user, name):
    """Return an open file of the user's kept upload `name`, or None."""
    if not KEPT_RE.match(f"k:{name}"):
        return None
    try:
        return default_storage.open(_kept_path(user, name))
    except (FileNotFoundError, OSError):
        return None


def kept_forget(*, user, refs):
    """Delete the kept uploads among `refs` once a generation has used them (result images stay)."""
    for ref in refs:
        if name := _kept_name(ref):
            default_storage.delete(_kept_path(user, name))


def kept_expired_delete(*, now=None, limit=2000):
    """Delete kept uploads older than KEPT_HOURS (their forms were never sent again); return how many.

    Through the storage API only (listdir and modified times), so S3 is swept the same way.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=KEPT_HOURS)
    try:
        owners, _files = default_storage.listdir("kept")
    except (FileNotFoundError, OSError):
        return 0  # nothing was ever kept
    deleted = 0
    for owner in owners:
        _dirs, names = default_storage.listdir(f"kept/{owner}")
        for name in names:
            path = f"kept/{owner}/{name}"
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
                deleted += 1
                if deleted >= limit:
                    return deleted  # the next day's sweep takes the rest
    return deleted
