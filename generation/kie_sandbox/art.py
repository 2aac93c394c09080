"""Stand-in artwork: what the simulator returns for a task, and what `manage.py seed_examples` shows.

Same model, prompt and index → the same picture, byte for byte. The colours come from the
prompt's hash (palette.py), the style from the model's family (painters.py), so a Compare grid
looks varied; the prompt's words are set on the picture. To stay fast at 4K the picture is
painted with its long side at `SKETCH_LONG_SIDE` px, scaled up once, and only the words are set
at full size (docs/kie-sandbox.md has the timings).

Models that work on an image transform it when the simulator holds it (a sandbox upload): edit
models tint it with the prompt's palette, the upscaler enlarges it, background removal cuts out
its middle. Without one they paint like the others.
"""

import io
import math
import random
import textwrap
import threading
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

from .painters import STYLES, scrim
from .palette import Palette, prompt_seed

SKETCH_LONG_SIDE = 640  # the painting
COMPOSE_LONG_SIDE = 2048  # the words; bigger images double these pixels
MAX_SOURCE_PIXELS = 40_000_000  # refuse to decode a bigger upload (a decompression bomb)

# The first prefix of a KIE model id that matches picks its style; unknown models get one by hash.
STYLE_BY_MODEL = (
    ("google/imagen4", "aurora"),
    ("google/nano-banana", "bokeh"),
    ("nano-banana", "bokeh"),
    ("flux-2/", "bauhaus"),
    ("gpt-image/", "mosaic"),
    ("seedream/", "landscape"),
    ("qwen/", "waves"),
    ("grok-imagine/", "rings"),
    ("ideogram/", "poster"),
    ("recraft/", "waves"),
)
# What a model that works on an image does to it; any other model given an image tints it.
TRANSFORMS = {"recraft/crisp-upscale": "upscale", "recraft/remove-background": "cutout"}

# Where Debian, Fedora and Arch keep DejaVu; elsewhere Pillow's own scalable font stands in.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
FONT_FILES = {"bold": "DejaVuSans-Bold.ttf", "serif": "DejaVuSerif-Italic.ttf", "sans": "DejaVuSans.ttf"}
WHITE, SOFT_WHITE = (250, 250, 248), (214, 214, 220)
_TEXT_LOCK = threading.Lock()


def style_for(model):
    """Return the name of the painter for a KIE model id."""
    for prefix, style in STYLE_BY_MODEL:
        if model.startswith(prefix):
            return style
    names = sorted(STYLES)
    return names[prompt_seed("style", model) % len(names)]


@lru_cache(maxsize=64)
def font(kind, size):
    """Return a TrueType font (DejaVu when installed), else Pillow's own scalable default."""
    for folder in FONT_DIRS:
        path = folder / FONT_FILES[kind]
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def source_image(content):
    """Return an input image's bytes as a PIL image, or None when they are not a usable image."""
    try:
        image = Image.open(io.BytesIO(content))
        if image.width * image.height > MAX_SOURCE_PIXELS:
            return None
        image.draft("RGB", (SKETCH_LONG_SIDE * 4, SKETCH_LONG_SIDE * 4))  # JPEG: decode smaller
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def fit_within(size, long_side):
    """Return `size` scaled down (never up) so its long side is at most `long_side`."""
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


def artwork(*, model, prompt, size, index=1, total=1, label="", source=None, caption=True):
    """Return the picture (a PIL image of exactly `size`) for one result of a task.

    `label` is the small footer line (e.g. the model's name); `source` an input image to work on.
    Above 2K the picture is composed at half size and each pixel doubled: that costs nothing to
    draw and compresses well, where a true 4K canvas took seconds to encode.
    """
    composed = _compose(model, prompt, fit_within(size, COMPOSE_LONG_SIDE), index, label, source, caption)
    return composed if composed.size == size else composed.resize(size, Image.NEAREST)


def _compose(model, prompt, size, index, label, source, caption):
    transform = TRANSFORMS.get(model)
    if source is not None and transform == "upscale":
        return source.convert("RGB").resize(size, Image.BICUBIC)
    palette = Palette(prompt, shift=(index - 1) * 0.07)
    small = fit_within(size, SKETCH_LONG_SIDE)
    if source is not None and transform != "cutout":
        sketch, style = _tinted(source, small, palette), "tint"
    elif source is not None:
        sketch, style = ImageOps.fit(source.convert("RGB"), small, Image.BILINEAR), "cutout"
    else:
        style = style_for(model)
        sketch = STYLES[style](small[0], small[1], _rng(model, prompt, index), palette)
    words = prompt.strip() if caption and transform is None else ""
    if words and style != "poster":
        scrim(sketch)
    image = sketch.resize(size, Image.BICUBIC if size[0] >= small[0] else Image.LANCZOS)
    if words or label:
        with _TEXT_LOCK:  # the cached fonts' FreeType faces are not safe to share between threads
            _caption(image, words, label, poster=style == "poster", ground=sketch)
    if transform == "cutout":
        image = _cut_out(image, small)
    return image


def artwork_png(**kwargs):
    """Return `artwork(**kwargs)` as PNG bytes; big images are compressed lightly, to stay fast."""
    image = artwork(**kwargs)
    buffer = io.BytesIO()
    level = 1 if image.width * image.height > 1_500_000 else 6
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def _rng(model, prompt, index):
    return random.Random(prompt_seed("art", model, prompt, index))


def _tinted(source, size, palette):
    picture = ImageOps.fit(source.convert("RGB"), size, Image.BILINEAR)
    toned = ImageOps.colorize(
        ImageOps.grayscale(picture), black=palette.deep, mid=palette.accents[1], white=palette.light
    )
    return Image.blend(picture, toned, 0.6)


def _cut_out(image, small):
    """Keep a head-and-shoulders figure in the middle of `image`, the rest transparent.

    The simulator cannot find a subject, so it cuts the shape most background removals are for:
    a portrait.
    """
    width, height = small
    mask = Image.new("L", (width * 2, height * 2), 0)
    draw, side = ImageDraw.Draw(mask), min(width, height) * 2
    cx, head = width, side * 0.17
    draw.ellipse((cx - head, height * 0.72 - head * 1.15, cx + head, height * 0.72 + head * 1.1), fill=255)
    draw.ellipse((cx - side * 0.36, height * 1.2, cx + side * 0.36, height * 2 + side * 0.45), fill=255)
    draw.rectangle((cx - head * 0.42, height * 0.9, cx + head * 0.42, height * 1.35), fill=255)  # the neck
    mask = mask.reduce(2).filter(ImageFilter.GaussianBlur(max(width, height) * 0.004))
    cut = image.convert("RGBA")
    cut.putalpha(mask.resize(image.size, Image.BILINEAR))
    return cut


# --- words --------------------------------------------------------------------------------------


def _wrap(text, face, width, max_lines):
    """Return lines of `text` that fit `width` px, at most `max_lines` (the last ends in "…")."""
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if face.getlength(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and face.getlength(last + "…") > width:
            last = last[:-1].rstrip()
        lines[-1] = last + "…"
    return [_fit(line, face, width) for line in lines]


def _fit(line, face, width):
    # A single word longer than the line (a URL, a long name) is cut rather than overflowing.
    if face.getlength(line) <= width:
        return line
    while line and face.getlength(line + "…") > width:
        line = line[:-1]
    return line + "…"


def _setting(text, kind, width, start, least, max_lines):
    """Return (font, lines, size): the largest size from `start` down to `least` that fits."""
    size = start
    while True:
        face = font(kind, size)
        lines = _wrap(text, face, width, max_lines)
        if not lines[-1].endswith("…") or size <= least:
            return face, lines, size
        size = max(least, round(size * 0.86))


def _caption(image, words, label, *, poster, ground):
    width, height = image.size
    scale = math.sqrt(width * height)
    margin = round(min(width, height) * 0.06)
    label_size = max(10, round(scale * 0.022))
    label_face = font("sans", label_size)
    draw = ImageDraw.Draw(image)
    if poster:
        ink = _ink(ground)
        if words:
            text = textwrap.shorten(words.upper(), 400, placeholder="…")
            face, lines, size = _setting(
                text, "bold", width - 2 * margin, round(scale * 0.1), round(scale * 0.045), 4
            )
            step = round(size * 1.12)
            y = (height - step * len(lines)) / 2
            for line in lines:
                draw.text(((width - face.getlength(line)) / 2, y), line, font=face, fill=ink)
                y += step
        if label:
            draw.text((margin, height - margin), label, font=label_face, fill=ink, anchor="ls")
        return
    bottom = height - margin
    if label:
        draw.text((margin, bottom), label, font=label_face, fill=SOFT_WHITE, anchor="ls")
        bottom -= round(label_size * 1.9)
    if words:
        text = words[0].upper() + words[1:]
        face, lines, size = _setting(
            text, "serif", width - 2 * margin, round(scale * 0.05), round(scale * 0.03), 3
        )
        step = round(size * 1.22)
        for number, line in enumerate(reversed(lines)):
            draw.text((margin, bottom - number * step), line, font=face, fill=WHITE, anchor="ls")


def _ink(ground):
    """Return dark or light ink, whichever reads better on the average colour of `ground`."""
    red, green, blue = ImageStat.Stat(ground.convert("RGB")).mean[:3]
    return (24, 22, 30) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else WHITE
