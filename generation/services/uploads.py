"""Image inputs of web users: check each upload, then pass it to KIE's file upload for a URL."""

import logging

from django.conf import settings

from .. import kie, storage
from .errors import ProviderUnavailable
from .pause import dispatch_pause_on_alert

logger = logging.getLogger("generation.services")


def image_fields(schema):
    """Return {field: max_files} for the schema's image-URL inputs (uploads on the web form)."""
    found = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("type") == "string" and prop.get("format") == "uri":
            found[name] = 1
        elif prop.get("type") == "array" and (prop.get("items") or {}).get("format") == "uri":
            found[name] = int(prop.get("maxItems") or 16)
    return found


def uploads_check(*, fields, uploads):
    """Return {field: [messages]} for uploads that are too large or not images."""
    errors = {}
    limit = settings.ARTIO_MAX_UPLOAD_BYTES
    for name, files in uploads.items():
        if name not in fields:
            errors.setdefault(name, []).append("This model takes no image here.")
            continue
        if len(files) > fields[name]:
            errors.setdefault(name, []).append(
                f"At most {fields[name]} image{'s' if fields[name] > 1 else ''} (this has {len(files)})."
            )
        for upload in files:
            if upload.size > limit:
                errors.setdefault(name, []).append(
                    f"{upload.name} is larger than {limit // (1024 * 1024)} MB."
                )
                continue
            try:
                storage.image_inspect(_read(upload))
            except storage.ImageInvalid as exc:
                errors.setdefault(name, []).append(f"{upload.name}: {exc}")
    return errors


def _read(upload):
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    return content


def with_uploads(*, data, schema, uploads, urls=None):
    """Return `data` with each uploaded field set to its URLs (placeholders until uploaded)."""
    merged = dict(data)
    props = schema.get("properties") or {}
    for name, files in uploads.items():
        if not files or name not in props:
            continue
        links = urls[name] if urls else [f"https://upload.invalid/{name}/{i}" for i in range(len(files))]
        merged[name] = links[0] if props[name].get("type") == "string" else links
    return merged


def uploads_send(*, uploads, fields):
    client = kie.kie_client()
    urls = {}
    for name, files in uploads.items():
        if not files or name not in fields:
            continue
        urls[name] = []
        for upload in files:
            content = _read(upload)
            content_type, ext, _w, _h = storage.image_inspect(content)
            try:
                urls[name].append(
                    client.upload_file(content=content, filename=f"input.{ext}", content_type=content_type)
                )
            except kie.KieError as exc:
                logger.warning("KIE upload failed: %r", exc)
                dispatch_pause_on_alert(exc)
                raise ProviderUnavailable(
                    "We could not pass your image to the image service; please try again shortly."
                ) from exc
    return urls
