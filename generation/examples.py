"""One example picture per model (`AIModel.sample_image`) for the model picker and the landing page.

Drawn by the KIE simulator's own renderer (generation/kie_sandbox/art.py) with a curated prompt
per family, at the size the model's default options give (scaled to at most 1024 px), and kept
in the default storage as WebP. `manage.py seed_examples` runs it; `make setup` calls that.
"""

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from catalog.models import AIModel, Family

from .kie_sandbox.art import artwork, fit_within
from .kie_sandbox.sizes import output_size

SAMPLE_LONG_SIDE = 1024
SAMPLE_QUALITY = 86

PROMPTS = {
    Family.IMAGEN: "a paper boat drifting on a misty lake at dawn",
    Family.FLUX2: "mid-century travel poster of a lighthouse on the coast",
    Family.GPT_IMAGE: "glazed ceramic tiles in a sunlit Lisbon courtyard",
    Family.SEEDREAM: "layered mountains at golden hour, a lone hiker on the ridge",
    Family.QWEN: "paper-cut ocean waves under a pastel morning sky",
    Family.GROK: "a ringed planet rising over a quiet desert",
    Family.IDEOGRAM: "summer jazz night by the river",
    Family.RECRAFT: "a bright studio portrait on a soft backdrop",
}
# Each seed model its own prompt, so the picker shows 19 different pictures, not 8 styles twice.
PROMPTS_BY_MODEL = {
    "google/imagen4-fast": "northern lights over a frozen lake, long exposure",
    "google/imagen4": "a paper boat drifting on a misty lake at dawn",
    "google/imagen4-ultra": "aurora over snowy pines and a cabin's warm window",
    "google/nano-banana-edit": "city lights through a rainy window, out of focus",
    "google/pro-image-to-image": "lanterns glowing over a night market",
    "flux-2/flex-text-to-image": "mid-century travel poster of a lighthouse on the coast",
    "flux-2/flex-image-to-image": "turn my sketch into a Bauhaus print",
    "flux-2/pro-text-to-image": "geometric portrait of a fox in primary colours",
    "flux-2/pro-image-to-image": "restyle the photo as a 1960s screen print",
    "gpt-image/1.5-text-to-image": "glazed ceramic tiles in a sunlit Lisbon courtyard",
    "gpt-image/1.5-image-to-image": "my kitchen wall, retiled in sea-green zellige",
    "seedream/4.5-text-to-image": "layered mountains at golden hour, a lone hiker on the ridge",
    "seedream/4.5-edit": "the same valley at dusk, under a crescent moon",
    "qwen/text-to-image": "paper-cut ocean waves under a pastel morning sky",
    "qwen/image-to-image": "my beach photo as layered paper art",
    "grok-imagine/text-to-image": "a ringed planet rising over a quiet desert",
    "ideogram/character": "summer jazz night by the river",
    "recraft/crisp-upscale": "a bright alpine meadow, every flower in focus",
    "recraft/remove-background": "a bright studio portrait on a soft backdrop",
}
# Models that work on an image show what they do to one painted in these models' styles.
SOURCES = {
    "recraft/crisp-upscale": "seedream/4.5-text-to-image",
    "recraft/remove-background": "grok-imagine/text-to-image",
}


def example_prompt(model):
    """Return the curated prompt the sample of `model` (an AIModel) is drawn with."""
    return PROMPTS_BY_MODEL.get(model.slug) or PROMPTS.get(model.family) or f"{model.name}, an example"


def _defaults(schema):
    return {name: prop["default"] for name, prop in schema.get("properties", {}).items() if "default" in prop}


def example_image(model):
    """Return the sample picture of `model` (a PIL image), drawn like the simulator draws results."""
    prompt = example_prompt(model)
    source = None
    if model.kie_model in SOURCES:
        source = artwork(model=SOURCES[model.kie_model], prompt=prompt, size=(1024, 1024), caption=False)
    data = {**_defaults(model.input_schema), "prompt": prompt}
    size = output_size(model.kie_model, data, input_size=source.size if source else None)
    return artwork(
        model=model.kie_model, prompt=prompt, size=fit_within(size, SAMPLE_LONG_SIDE), source=source
    )


def example_webp(model):
    buffer = io.BytesIO()
    example_image(model).save(buffer, format="WEBP", quality=SAMPLE_QUALITY, method=4)
    return buffer.getvalue()


def _has_sample(model):
    return bool(model.sample_image) and default_storage.exists(model.sample_image.name)


def examples_seed(*, force=False):
    """Draw and store a sample for every active model without one (every one with `force`).

    Return the slugs drawn. A sample whose file has gone from storage counts as missing.
    """
    drawn = []
    for model in AIModel.objects.filter(is_active=True).order_by("sort_order", "slug"):
        if _has_sample(model) and not force:
            continue
        if model.sample_image:
            model.sample_image.delete(save=False)  # --force: do not leave the old file behind
        name = f"{model.slug.replace('/', '-')}.webp"
        model.sample_image.save(name, ContentFile(example_webp(model)), save=False)
        model.save(update_fields=["sample_image"])
        drawn.append(model.slug)
    return drawn
