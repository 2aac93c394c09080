"""The seed catalogue: the 19 KIE models and 25 prices of docs/kie-pricing-seed.md.

`SEED_MODELS` is data, not code paths: `catalog.services.catalog_seed` loads it into an empty
database (a data migration and `manage.py seed_catalog`), and the KIE simulator validates
createTask bodies with `catalog.schemas.kie_schema(entry["input_schema"])` keyed by
`entry["kie_model"]`, so it refuses what KIE refuses.

Input schemas follow docs/kie-api.md §7 field by field. Types are honest (`num_images` is an
integer); `"x-kie-type": "string"` marks a field KIE wants as a string. Every property has a
`title` and `description`, because the web form is built from them. Where KIE documents a default
we write it down, and it is sent explicitly (KIE does not always apply its own defaults).
"""

from decimal import Decimal

from .models import Family, Kind, Plan, PriceUnit

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# --- Property builders: one place for the wording users read on the form -----------------------


def _prompt(max_length=5000, min_length=None):
    prop = {
        "type": "string",
        "title": "Prompt",
        "description": "Describe the image you want.",
    }
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


def _aspect_ratio(choices, default, title="Aspect ratio"):
    return {
        "type": "string",
        "title": title,
        "description": "Shape of the image, width:height.",
        "enum": list(choices),
        "default": default,
    }


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
    return {
        "type": "integer",
        "title": "Number of images",
        "description": "How many images to make; each one is charged.",
        "enum": [1, 2, 3, 4],
        "default": 1,
        "x-kie-type": "string",
    }


def _seed_integer():
    return {
        "type": "integer",
        "title": "Seed",
        "description": "Same seed and settings give a similar image; leave empty for a random one.",
    }


def _seed_string():
    return {
        "type": "string",
        "title": "Seed",
        "description": "Same seed and settings give a similar image; leave empty for a random one.",
        "maxLength": 500,
    }


def _resolution(choices=("1K", "2K"), default="1K"):
    return {
        "type": "string",
        "title": "Resolution",
        "description": "Output size; larger costs more.",
        "enum": list(choices),
        "default": default,
    }


def _output_format(choices=("png", "jpeg")):
    return {
        "type": "string",
        "title": "File format",
        "description": "PNG keeps every detail; JPEG is smaller.",
        "enum": list(choices),
        "default": "png",
    }


def _nsfw_checker():
    # KIE's filter is off unless asked for (docs/kie-api.md §7.20); a public reseller turns it on.
    return {
        "type": "boolean",
        "title": "Content filter",
        "description": "Let KIE filter explicit results.",
        "default": True,
    }


def _qwen_common():
    return {
        "output_format": _output_format(),
        "acceleration": {
            "type": "string",
            "title": "Acceleration",
            "description": "Faster generation; 'high' suits images without text.",
            "enum": ["none", "regular", "high"],
            "default": "none",
        },
        "negative_prompt": _negative_prompt(500),
        "seed": _seed_integer(),
        "num_inference_steps": {
            "type": "integer",
            "title": "Steps",
            "description": "More steps, more detail, slower.",
            "minimum": 2,
            "maximum": 250,
            "default": 30,
        },
        "guidance_scale": {
            "type": "number",
            "title": "Guidance",
            "description": "How strictly to follow the prompt (0–20).",
            "minimum": 0,
            "maximum": 20,
            "default": 2.5,
        },
        "enable_safety_checker": {
            "type": "boolean",
            "title": "Safety checker",
            "description": "KIE's safety checker (on by default).",
            "default": True,
        },
        "nsfw_checker": _nsfw_checker(),
    }


QWEN_SIZES = ["square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"]
IMAGEN_RATIOS = ["1:1", "16:9", "9:16", "3:4", "4:3"]
FLUX_RATIOS = ["1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3"]
SEEDREAM_RATIOS = ["1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9"]


def _schema(properties, required):
    return {
        "$schema": DRAFT,
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _price(credits, variant="", unit=PriceUnit.PER_IMAGE):
    # Retail starts equal to the seed's KIE credits; staff set margins in the admin.
    return {"variant": variant, "kie_credits": Decimal(credits), "credits": int(credits), "unit": unit}


def _imagen(seed_prop, default_ratio="1:1", with_count=False):
    properties = {
        "prompt": _prompt(5000),
        "negative_prompt": _negative_prompt(5000),
        "aspect_ratio": _aspect_ratio(IMAGEN_RATIOS, default_ratio),
    }
    if with_count:
        properties["num_images"] = _num_images()
    properties["seed"] = seed_prop
    return _schema(properties, ["prompt"])


def _flux(image_to_image):
    properties = {}
    if image_to_image:
        properties["input_urls"] = _image_urls(8, description="1 to 8 reference images (JPEG, PNG or WebP).")
    properties["prompt"] = _prompt(5000, min_length=3)
    ratios = FLUX_RATIOS + (["auto"] if image_to_image else [])
    properties["aspect_ratio"] = _aspect_ratio(ratios, "1:1")
    properties["resolution"] = _resolution()
    properties["nsfw_checker"] = _nsfw_checker()
    required = (["input_urls"] if image_to_image else []) + ["prompt", "aspect_ratio", "resolution"]
    return _schema(properties, required)


def _gpt_image(image_to_image):
    properties = {}
    if image_to_image:
        properties["input_urls"] = _image_urls(16)
    properties["prompt"] = _prompt(max_length=None)
    properties["aspect_ratio"] = _aspect_ratio(["1:1", "2:3", "3:2"], "3:2" if image_to_image else "1:1")
    properties["quality"] = {
        "type": "string",
        "title": "Quality",
        "description": "High is slower and more detailed.",
        "enum": ["medium", "high"],
        "default": "medium",
    }
    required = (["input_urls"] if image_to_image else []) + ["prompt", "aspect_ratio", "quality"]
    return _schema(properties, required)


def _seedream(edit):
    properties = {"prompt": _prompt(3000)}
    if edit:
        properties["image_urls"] = _image_urls(14)
    properties["aspect_ratio"] = _aspect_ratio(SEEDREAM_RATIOS, "1:1")
    properties["quality"] = {
        "type": "string",
        "title": "Quality",
        "description": "Basic makes 2K images, high makes 4K.",
        "enum": ["basic", "high"],
        "default": "basic",
    }
    properties["nsfw_checker"] = _nsfw_checker()
    required = ["prompt"] + (["image_urls"] if edit else []) + ["aspect_ratio", "quality"]
    return _schema(properties, required)


SEED_MODELS = [
    {
        "slug": "google/imagen4-fast",
        "kie_model": "google/imagen4-fast",
        "name": "Imagen 4 Fast",
        "family": Family.IMAGEN,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Fastest and cheapest; good everyday quality, up to 4 images at once.",
        "min_plan": Plan.FREE,
        "sort_order": 10,
        "count_field": "num_images",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 10,
        "input_schema": _imagen(_seed_integer(), default_ratio="16:9", with_count=True),
        "prices": [_price(4)],
    },
    {
        "slug": "google/imagen4",
        "kie_model": "google/imagen4",
        "name": "Imagen 4",
        "family": Family.IMAGEN,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Balanced speed and quality; good at photorealism and legible text.",
        "min_plan": Plan.STANDARD,
        "sort_order": 20,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 15,
        "input_schema": _imagen(_seed_string()),
        "prices": [_price(6)],
    },
    {
        "slug": "google/imagen4-ultra",
        "kie_model": "google/imagen4-ultra",
        "name": "Imagen 4 Ultra",
        "family": Family.IMAGEN,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Google's best: fine detail, faithful to long prompts.",
        "min_plan": Plan.PREMIUM,
        "sort_order": 30,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 25,
        "input_schema": _imagen(_seed_string()),
        "prices": [_price(12)],
    },
    {
        "slug": "google/nano-banana-edit",
        "kie_model": "google/nano-banana-edit",
        "name": "Nano Banana Edit",
        "family": Family.IMAGEN,
        "kind": Kind.EDIT,
        "description": "Edits your images from plain instructions; keeps faces and objects consistent.",
        "min_plan": Plan.STANDARD,
        "sort_order": 40,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 20,
        "input_schema": _schema(
            {
                "prompt": _prompt(5000),
                "image_urls": _image_urls(10),
                "output_format": _output_format(),
                "image_size": _aspect_ratio(
                    ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"],
                    "1:1",
                ),
            },
            ["prompt", "image_urls"],
        ),
        "prices": [_price(8)],
    },
    {
        "slug": "google/pro-image-to-image",
        # KIE's model id differs from its doc page (docs/kie-api.md §7.5).
        "kie_model": "nano-banana-pro",
        "name": "Nano Banana Pro",
        "family": Family.IMAGEN,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Premium image-to-image (or text-to-image without inputs); up to 4K, good at text.",
        "min_plan": Plan.PREMIUM,
        "sort_order": 50,
        "count_field": "",
        # The seed has one flat price, so resolution is not a price variant (yet).
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 40,
        "input_schema": _schema(
            {
                "prompt": _prompt(10000),
                "image_input": _image_urls(
                    8,
                    min_items=0,
                    title="Reference images",
                    description="Optional, up to 8 images (JPEG, PNG or WebP); none makes a new image.",
                ),
                "aspect_ratio": _aspect_ratio(
                    ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto"], "1:1"
                ),
                "resolution": _resolution(["1K", "2K", "4K"]),
                "output_format": _output_format(["png", "jpg"]),
            },
            ["prompt"],
        ),
        "prices": [_price(15)],
    },
    {
        "slug": "flux-2/flex-text-to-image",
        "kie_model": "flux-2/flex-text-to-image",
        "name": "Flux-2 Flex",
        "family": Family.FLUX2,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Flexible, creative styles; strong at illustration and typography.",
        "min_plan": Plan.STANDARD,
        "sort_order": 60,
        "count_field": "",
        "variant_field": "resolution",
        "images_per_task": 1,
        "typical_seconds": 30,
        "input_schema": _flux(image_to_image=False),
        "prices": [_price(14, "1K"), _price(24, "2K")],
    },
    {
        "slug": "flux-2/flex-image-to-image",
        "kie_model": "flux-2/flex-image-to-image",
        "name": "Flux-2 Flex image-to-image",
        "family": Family.FLUX2,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Restyles or combines up to 8 reference images.",
        "min_plan": Plan.STANDARD,
        "sort_order": 70,
        "count_field": "",
        "variant_field": "resolution",
        "images_per_task": 1,
        "typical_seconds": 35,
        "input_schema": _flux(image_to_image=True),
        "prices": [_price(14, "1K"), _price(24, "2K")],
    },
    {
        "slug": "flux-2/pro-text-to-image",
        "kie_model": "flux-2/pro-text-to-image",
        "name": "Flux-2 Pro",
        "family": Family.FLUX2,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Photorealistic, precise prompt following; quick.",
        "min_plan": Plan.PREMIUM,
        "sort_order": 80,
        "count_field": "",
        "variant_field": "resolution",
        "images_per_task": 1,
        "typical_seconds": 20,
        "input_schema": _flux(image_to_image=False),
        "prices": [_price(5, "1K"), _price(7, "2K")],
    },
    {
        "slug": "flux-2/pro-image-to-image",
        "kie_model": "flux-2/pro-image-to-image",
        "name": "Flux-2 Pro image-to-image",
        "family": Family.FLUX2,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Photorealistic edits and blends of up to 8 reference images.",
        "min_plan": Plan.PREMIUM,
        "sort_order": 90,
        "count_field": "",
        "variant_field": "resolution",
        "images_per_task": 1,
        "typical_seconds": 25,
        "input_schema": _flux(image_to_image=True),
        "prices": [_price(5, "1K"), _price(7, "2K")],
    },
    {
        "slug": "gpt-image/1.5-text-to-image",
        "kie_model": "gpt-image/1.5-text-to-image",
        "name": "GPT Image 1.5",
        "family": Family.GPT_IMAGE,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Understands long, detailed prompts; good at text and diagrams. Slower.",
        "min_plan": Plan.STANDARD,
        "sort_order": 100,
        "count_field": "",
        # One flat price for both qualities in the seed.
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 60,
        "input_schema": _gpt_image(image_to_image=False),
        "prices": [_price(6)],
    },
    {
        "slug": "gpt-image/1.5-image-to-image",
        "kie_model": "gpt-image/1.5-image-to-image",
        "name": "GPT Image 1.5 image-to-image",
        "family": Family.GPT_IMAGE,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Edits and combines up to 16 images following detailed instructions.",
        "min_plan": Plan.STANDARD,
        "sort_order": 110,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 60,
        "input_schema": _gpt_image(image_to_image=True),
        "prices": [_price(6)],
    },
    {
        "slug": "seedream/4.5-text-to-image",
        "kie_model": "seedream/4.5-text-to-image",
        "name": "Seedream 4.5",
        "family": Family.SEEDREAM,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Sharp 2K or 4K images at a low price; good at posters and products.",
        "min_plan": Plan.STANDARD,
        "sort_order": 120,
        "count_field": "",
        "variant_field": "quality",
        "images_per_task": 1,
        "typical_seconds": 25,
        "input_schema": _seedream(edit=False),
        "prices": [_price(5, "basic"), _price(8, "high")],
    },
    {
        "slug": "seedream/4.5-edit",
        "kie_model": "seedream/4.5-edit",
        "name": "Seedream 4.5 Edit",
        "family": Family.SEEDREAM,
        "kind": Kind.EDIT,
        "description": "Edits with up to 14 reference images, in 2K or 4K.",
        "min_plan": Plan.STANDARD,
        "sort_order": 130,
        "count_field": "",
        "variant_field": "quality",
        "images_per_task": 1,
        "typical_seconds": 30,
        "input_schema": _seedream(edit=True),
        "prices": [_price(5, "basic"), _price(8, "high")],
    },
    {
        "slug": "qwen/text-to-image",
        "kie_model": "qwen/text-to-image",
        "name": "Qwen Image",
        "family": Family.QWEN,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "Alibaba's model; good at text in images, including Chinese; many knobs.",
        "min_plan": Plan.STANDARD,
        "sort_order": 140,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 20,
        "input_schema": _schema(
            {
                "prompt": _prompt(5000),
                "image_size": {
                    "type": "string",
                    "title": "Image size",
                    "description": "Shape and size of the image.",
                    "enum": QWEN_SIZES,
                    "default": "square_hd",
                },
                **_qwen_common(),
            },
            ["prompt"],
        ),
        "prices": [_price(5)],
    },
    {
        "slug": "qwen/image-to-image",
        "kie_model": "qwen/image-to-image",
        "name": "Qwen image-to-image",
        "family": Family.QWEN,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Reworks one image; you choose how much of the original to keep.",
        "min_plan": Plan.STANDARD,
        "sort_order": 150,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 20,
        "input_schema": _schema(
            {
                "prompt": _prompt(5000),
                "image_url": _image_url(),
                "strength": {
                    "type": "number",
                    "title": "Strength",
                    "description": "1 remakes the image fully, 0 keeps the original.",
                    "minimum": 0,
                    "maximum": 1,
                    "default": 0.8,
                },
                **_qwen_common(),
            },
            ["prompt", "image_url"],
        ),
        "prices": [_price(5)],
    },
    {
        "slug": "grok-imagine/text-to-image",
        "kie_model": "grok-imagine/text-to-image",
        "name": "Grok Imagine",
        "family": Family.GROK,
        "kind": Kind.TEXT_TO_IMAGE,
        "description": "xAI's model: 6 images per run for one price; great for exploring ideas.",
        "min_plan": Plan.STANDARD,
        "sort_order": 160,
        "count_field": "",
        "variant_field": "",
        # KIE returns 6 images per task and bills the task (docs/kie-api.md §7.16).
        "images_per_task": 6,
        "typical_seconds": 20,
        "input_schema": _schema(
            {
                "prompt": {**_prompt(5000), "description": "Describe the image you want (in English)."},
                "aspect_ratio": _aspect_ratio(["2:3", "3:2", "1:1", "16:9", "9:16"], "1:1"),
                "nsfw_checker": _nsfw_checker(),
                "enable_pro": {
                    "type": "boolean",
                    "title": "Quality mode",
                    "description": "Slower, more detailed images.",
                    "default": False,
                },
            },
            ["prompt"],
        ),
        "prices": [_price(8, unit=PriceUnit.PER_TASK)],
    },
    {
        "slug": "ideogram/character",
        "kie_model": "ideogram/character",
        "name": "Ideogram Character",
        "family": Family.IDEOGRAM,
        "kind": Kind.IMAGE_TO_IMAGE,
        "description": "Keeps one character consistent across new scenes from a single reference photo.",
        "min_plan": Plan.STANDARD,
        "sort_order": 170,
        "count_field": "num_images",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 30,
        "input_schema": _schema(
            {
                "prompt": _prompt(5000),
                "reference_image_urls": _image_urls(
                    1,
                    title="Character reference",
                    description="One photo of the character (JPEG, PNG or WebP, up to 10 MB).",
                ),
                "rendering_speed": {
                    "type": "string",
                    "title": "Rendering speed",
                    "description": "Turbo is fastest, quality is the most detailed.",
                    "enum": ["TURBO", "BALANCED", "QUALITY"],
                    "default": "BALANCED",
                },
                "style": {
                    "type": "string",
                    "title": "Style",
                    "description": "Overall look of the image.",
                    "enum": ["AUTO", "REALISTIC", "FICTION"],
                    "default": "AUTO",
                },
                "expand_prompt": {
                    "type": "boolean",
                    "title": "Magic prompt",
                    "description": "Let Ideogram expand your prompt with more detail.",
                    "default": True,
                },
                "num_images": _num_images(),
                "image_size": {
                    "type": "string",
                    "title": "Image size",
                    "description": "Shape and size of the image.",
                    "enum": QWEN_SIZES,
                    "default": "square_hd",
                },
                "seed": _seed_integer(),
                "negative_prompt": _negative_prompt(5000),
            },
            ["prompt", "reference_image_urls"],
        ),
        "prices": [_price(10)],
    },
    {
        "slug": "recraft/crisp-upscale",
        "kie_model": "recraft/crisp-upscale",
        "name": "Recraft Crisp Upscale",
        "family": Family.RECRAFT,
        "kind": Kind.UPSCALE,
        "description": "Makes an image larger and sharper without changing it.",
        "min_plan": Plan.FREE,
        "sort_order": 180,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 15,
        "input_schema": _schema(
            {"image": _image_url("The image to upscale (JPEG, PNG or WebP, up to 10 MB).")}, ["image"]
        ),
        "prices": [_price(3)],
    },
    {
        "slug": "recraft/remove-background",
        "kie_model": "recraft/remove-background",
        "name": "Recraft Remove Background",
        "family": Family.RECRAFT,
        "kind": Kind.REMOVE_BACKGROUND,
        "description": "Cuts out the subject onto a transparent background.",
        "min_plan": Plan.FREE,
        "sort_order": 190,
        "count_field": "",
        "variant_field": "",
        "images_per_task": 1,
        "typical_seconds": 8,
        "input_schema": _schema(
            {
                "image": _image_url(
                    "The image (PNG, JPG or WebP, up to 5 MB, 256–4096 px per side, at most 16 MP)."
                )
            },
            ["image"],
        ),
        "prices": [_price(2)],
    },
]

# Base rate: 1 credit = $0.01 (CatalogSettings default); bigger packs carry a bonus.
SEED_PACKS = [
    {"name": "Starter", "price_cents": 500, "credits": 500, "sort_order": 10},
    {"name": "Regular", "price_cents": 1000, "credits": 1000, "sort_order": 20},
    {"name": "Plus", "price_cents": 2500, "credits": 2600, "sort_order": 30},
    {"name": "Studio", "price_cents": 5000, "credits": 5500, "sort_order": 40},
]
