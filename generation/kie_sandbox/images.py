"""Placeholder result images: the prompt drawn on a colour picked from the prompt's hash."""

import hashlib
import io
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from generation.aspect import aspect_ratio_parse

LONG_SIDE = 512


def image_size(aspect):
    """Return (width, height) with a 512 px long side for "16:9", "portrait_4_3", "auto"…"""
    w, h = aspect_ratio_parse(aspect)
    if w >= h:
        return LONG_SIDE, max(1, round(LONG_SIDE * h / w))
    return max(1, round(LONG_SIDE * w / h)), LONG_SIDE


def _colours(prompt):
    digest = hashlib.sha256(prompt.encode()).digest()
    background = tuple(40 + b % 176 for b in digest[:3])
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    ink = (20, 20, 20) if luminance > 140 else (245, 245, 245)
    return background, ink


def placeholder_png(*, prompt, aspect="1:1", index=1, total=1, model=""):
    """Return PNG bytes showing the wrapped prompt, the model and "index/total"."""
    width, height = image_size(aspect)
    background, ink = _colours(prompt)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=18)
    small = ImageFont.load_default(size=13)
    margin = 20
    columns = max(10, (width - 2 * margin) // 10)
    lines = textwrap.wrap(prompt, width=columns)[: max(1, (height - 80) // 24)]
    y = margin
    for line in lines:
        draw.text((margin, y), line, fill=ink, font=font)
        y += 24
    footer = f"KIE sandbox · {model} · {index}/{total}"
    draw.text((margin, height - margin - 14), footer, fill=ink, font=small)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


@lru_cache(maxsize=64)
def _cached_png(prompt, aspect, index, total, model):
    return placeholder_png(prompt=prompt, aspect=aspect, index=index, total=total, model=model)


def task_png(task, index):
    """Return image `index` of a finished SandboxTask, in its `aspect_ratio` (or `image_size`).

    Results are drawn on request, not stored, so memory stays bounded whatever the traffic; a
    small cache spares redrawing while the pipeline downloads them.
    """
    aspect = str(task.input.get("aspect_ratio") or task.input.get("image_size") or "1:1")
    return _cached_png(str(task.input.get("prompt", "")), aspect, index, task.image_count, task.model)
