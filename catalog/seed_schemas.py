"""Input schemas of the seed catalogue's models, one builder per KIE model (docs/reference/kie-api.md §7).

Small property builders hold the wording users read on the form, so every model says "Prompt" or
"Aspect ratio" the same way; each model's schema is then a few named fragments. Types are honest
(`num_images` is an integer); `"x-kie-type": "string"` marks a field KIE wants as a string. Every
property has a `title` and `description`, because the web form is built from them. Where KIE
documents a default we write it down, and it is sent explicitly (KIE does not always apply its own
defaults).
"""

DRAFT = "https://json-schema.org/draft/2020-12/schema"

QWEN_SIZES = ["square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"]
IMAGEN_RATIOS = ["1:1", "16:9", "9:16", "3:4", "4:3"]
FLUX_RATIOS = ["1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3"]
SEEDREAM_RATIOS = ["1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9"]
NANO_BANANA_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"]
NANO_BANANA_PRO_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto"]
SEED_HELP = "Same seed and settings give a similar image; leave empty for a random one."

# --- Property builders ----------------------------------------------------------------------------


def _choice(title, description, choices, default, type_="string"):
    return {
        "type": type_,
        "title": title,
        "description": description,
        "enum": list(choices),
        "default": default,
    }


def _switch(title, description, default):
    return {"type": "boolean", "title": title, "description": description, "default": default}


def _number(title, description, minimum, maximum, default, type_="number"):
    return {
        "type": type_,
        "title": title,
        "description": description,
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
    }


def _prompt(max_length=5000, min_length=None, description="Describe the image you want."):
    prop = {"type": "string", "title": "Prompt", "description": description}
    if min_length:
        prop["minLength"] = min_length
    if max_length:
        prop["maxLength"] = max_length
    return prop


def _negative_prompt(max_length=5000):
    return {
        "type": "string",
        "title": "Negative prompt",
        "description": "What the image should not contain.",
        "maxLength": max_length,
    }


def _aspect_ratio(choices, default):
    return _choice("Aspect ratio", "Shape of the image, width:height.", choices, default)


def _image_size():
    return _choice("Image size", "Shape and size of the image.", QWEN_SIZES, "square_hd")


def _image_urls(max_items, *, min_items=1, title="Input images", description=None):
    prop = {
        "type": "array",
        "title": title,
        "description": description or f"Up to {max_items} images (JPEG, PNG or WebP) to work from.",
        "items": {"type": "string", "format": "uri"},
        "maxItems": max_items,
    }
    if min_items:
        prop["minItems"] = min_items
    return prop


def _image_url(description="The image (JPEG, PNG or WebP) to work on."):
    return {"type": "string", "format": "uri", "title": "Image", "description": description}


def _num_images():
    help_text = "How many images to make; each one is charged."
    return {**_choice("Number of images", help_text, [1, 2, 3, 4], 1, "integer"), "x-kie-type": "string"}


def _seed_integer():
    return {"type": "integer", "title": "Seed", "description": SEED_HELP}


def _seed_string():
    return {"type": "string", "title": "Seed", "description": SEED_HELP, "maxLength": 500}


def _resolution(choices=("1K", "2K")):
    return _choice("Resolution", "Output size; larger costs more.", choices, "1K")


def _output_format(choices=("png", "jpeg")):
    return _choice("File format", "PNG keeps every detail; JPEG is smaller.", choices, "png")


def _quality(description, choices, default):
    return _choice("Quality", description, choices, default)


def _nsfw_checker():
    # KIE's filter is off unless asked for (docs/reference/kie-api.md §7.20); a public reseller turns it on.
    return _switch("Content filter", "Let KIE filter explicit results.", True)


def _schema(properties, required):
    return {
        "$schema": DRAFT,
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# --- One schema per KIE model -----------------------------------------------------------------------


def _imagen(seed, default_ratio="1:1", count=None):
    properties = {
        "prompt": _prompt(5000),
        "negative_prompt": _negative_prompt(5000),
        "aspect_ratio": _aspect_ratio(IMAGEN_RATIOS, default_ratio),
        **(count or {}),
        "seed": seed,
    }
    return _schema(properties, ["prompt"])


def imagen4_fast():
    return _imagen(_seed_integer(), default_ratio="16:9", count={"num_images": _num_images()})


def imagen4():
    """Imagen 4 and Imagen 4 Ultra: KIE documents their seed as a string."""
    return _imagen(_seed_string())


def nano_banana_edit():
    properties = {
        "prompt": _prompt(5000),
        "image_urls": _image_urls(10),
        "output_format": _output_format(),
        "image_size": _aspect_ratio(NANO_BANANA_RATIOS, "1:1"),
    }
    return _schema(properties, ["prompt", "image_urls"])


def nano_banana_pro():
    images = _image_urls(
        8,
        min_items=0,
        title="Reference images",
        description="Optional, up to 8 images (JPEG, PNG or WebP); none makes a new image.",
    )
    properties = {
        "prompt": _prompt(10000),
        "image_input": images,
        "aspect_ratio": _aspect_ratio(NANO_BANANA_PRO_RATIOS, "1:1"),
        "resolution": _resolution(["1K", "2K", "4K"]),
        "output_format": _output_format(["png", "jpg"]),
    }
    return _schema(properties, ["prompt"])


def flux2(*, image_to_image):
    properties = {
        "prompt": _prompt(5000, min_length=3),
        "aspect_ratio": _aspect_ratio(FLUX_RATIOS + (["auto"] if image_to_image else []), "1:1"),
        "resolution": _resolution(),
        "nsfw_checker": _nsfw_checker(),
    }
    required = ["prompt", "aspect_ratio", "resolution"]
    if image_to_image:
        images = _image_urls(8, description="1 to 8 reference images (JPEG, PNG or WebP).")
        return _schema({"input_urls": images, **properties}, ["input_urls", *required])
    return _schema(properties, required)


def gpt_image(*, image_to_image):
    properties = {
        "prompt": _prompt(max_length=None),
        "aspect_ratio": _aspect_ratio(["1:1", "2:3", "3:2"], "3:2" if image_to_image else "1:1"),
        "quality": _quality("High is slower and more detailed.", ["medium", "high"], "medium"),
    }
    required = ["prompt", "aspect_ratio", "quality"]
    if image_to_image:
        return _schema({"input_urls": _image_urls(16), **properties}, ["input_urls", *required])
    return _schema(properties, required)


def seedream(*, edit):
    images = {"image_urls": _image_urls(14)} if edit else {}
    properties = {
        "prompt": _prompt(3000),
        **images,
        "aspect_ratio": _aspect_ratio(SEEDREAM_RATIOS, "1:1"),
        "quality": _quality("Basic makes 2K images, high makes 4K.", ["basic", "high"], "basic"),
        "nsfw_checker": _nsfw_checker(),
    }
    return _schema(properties, ["prompt", *images, "aspect_ratio", "quality"])


def _qwen(own, required):
    """Qwen's schema: the prompt, the model's `own` fields, then the knobs both Qwen models share."""
    properties = {
        "prompt": _prompt(5000),
        **own,
        "output_format": _output_format(),
        "acceleration": _choice(
            "Acceleration",
            "Faster generation; 'high' suits images without text.",
            ["none", "regular", "high"],
            "none",
        ),
        "negative_prompt": _negative_prompt(500),
        "seed": _seed_integer(),
        "num_inference_steps": _number("Steps", "More steps, more detail, slower.", 2, 250, 30, "integer"),
        "guidance_scale": _number("Guidance", "How strictly to follow the prompt (0–20).", 0, 20, 2.5),
        "enable_safety_checker": _switch("Safety checker", "KIE's safety checker (on by default).", True),
        "nsfw_checker": _nsfw_checker(),
    }
    return _schema(properties, required)


def qwen_text_to_image():
    return _qwen({"image_size": _image_size()}, ["prompt"])


def qwen_image_to_image():
    strength = _number("Strength", "1 remakes the image fully, 0 keeps the original.", 0, 1, 0.8)
    return _qwen({"image_url": _image_url(), "strength": strength}, ["prompt", "image_url"])


def grok_imagine():
    properties = {
        "prompt": _prompt(5000, description="Describe the image you want (in English)."),
        "aspect_ratio": _aspect_ratio(["2:3", "3:2", "1:1", "16:9", "9:16"], "1:1"),
        "nsfw_checker": _nsfw_checker(),
        "enable_pro": _switch("Quality mode", "Slower, more detailed images.", False),
    }
    return _schema(properties, ["prompt"])


def ideogram_character():
    reference = _image_urls(
        1,
        title="Character reference",
        description="One photo of the character (JPEG, PNG or WebP, up to 10 MB).",
    )
    speeds = ["TURBO", "BALANCED", "QUALITY"]
    properties = {
        "prompt": _prompt(5000),
        "reference_image_urls": reference,
        "rendering_speed": _choice(
            "Rendering speed", "Turbo is fastest, quality is the most detailed.", speeds, "BALANCED"
        ),
        "style": _choice("Style", "Overall look of the image.", ["AUTO", "REALISTIC", "FICTION"], "AUTO"),
        "expand_prompt": _switch("Magic prompt", "Let Ideogram expand your prompt with more detail.", True),
        "num_images": _num_images(),
        "image_size": _image_size(),
        "seed": _seed_integer(),
        "negative_prompt": _negative_prompt(5000),
    }
    return _schema(properties, ["prompt", "reference_image_urls"])


def recraft_crisp_upscale():
    return _schema({"image": _image_url("The image to upscale (JPEG, PNG or WebP, up to 10 MB).")}, ["image"])


def recraft_remove_background():
    limits = "The image (PNG, JPG or WebP, up to 5 MB, 256–4096 px per side, at most 16 MP)."
    return _schema({"image": _image_url(limits)}, ["image"])
