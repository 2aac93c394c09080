"""The seed catalogue: the 19 KIE models and 25 prices of docs/reference/kie-pricing-seed.md.

`SEED_MODELS` is data, not code paths: `catalog.services.catalog_seed` loads it into an empty
database (a data migration and `manage.py seed_catalog`), and the KIE simulator validates
createTask bodies with `catalog.schemas.kie_schema(entry["input_schema"])` keyed by
`entry["kie_model"]`, so it refuses what KIE refuses. The input schemas are built in
`catalog.seed_schemas`, one function per KIE model.
"""

from decimal import Decimal

from . import seed_schemas as inputs
from .models import Family, Kind, Plan, PriceUnit


def _price(credits, variant="", unit=PriceUnit.PER_IMAGE):
    # Retail starts equal to the seed's KIE credits; staff set margins in the admin.
    return {"variant": variant, "kie_credits": Decimal(credits), "credits": int(credits), "unit": unit}


def _model(
    slug,
    name,
    family,
    kind,
    description,
    *,
    plan=Plan.STANDARD,
    seconds,
    schema,
    prices,
    kie_model=None,
    count_field="",
    variant_field="",
    images_per_task=1,
):
    """Return one SEED_MODELS entry; its sort order comes from its place in the list (below)."""
    return {
        "slug": slug,
        "kie_model": kie_model or slug,
        "name": name,
        "family": family,
        "kind": kind,
        "description": description,
        "min_plan": plan,
        "sort_order": None,
        "count_field": count_field,
        "variant_field": variant_field,
        "images_per_task": images_per_task,
        "typical_seconds": seconds,
        "input_schema": schema,
        "prices": prices,
    }


def _by_resolution(one_k, two_k):
    return {"variant_field": "resolution", "prices": [_price(one_k, "1K"), _price(two_k, "2K")]}


def _by_quality(basic, high):
    return {"variant_field": "quality", "prices": [_price(basic, "basic"), _price(high, "high")]}


_MODELS = [
    _model(
        "google/imagen4-fast",
        "Imagen 4 Fast",
        Family.IMAGEN,
        Kind.TEXT_TO_IMAGE,
        "Fastest and cheapest; good everyday quality, up to 4 images at once.",
        plan=Plan.FREE,
        seconds=10,
        count_field="num_images",
        schema=inputs.imagen4_fast(),
        prices=[_price(4)],
    ),
    _model(
        "google/imagen4",
        "Imagen 4",
        Family.IMAGEN,
        Kind.TEXT_TO_IMAGE,
        "Balanced speed and quality; good at photorealism and legible text.",
        seconds=15,
        schema=inputs.imagen4(),
        prices=[_price(6)],
    ),
    _model(
        "google/imagen4-ultra",
        "Imagen 4 Ultra",
        Family.IMAGEN,
        Kind.TEXT_TO_IMAGE,
        "Google's best: fine detail, faithful to long prompts.",
        plan=Plan.PREMIUM,
        seconds=25,
        schema=inputs.imagen4(),
        prices=[_price(12)],
    ),
    _model(
        "google/nano-banana-edit",
        "Nano Banana Edit",
        Family.IMAGEN,
        Kind.EDIT,
        "Edits your images from plain instructions; keeps faces and objects consistent.",
        seconds=20,
        schema=inputs.nano_banana_edit(),
        prices=[_price(8)],
    ),
    _model(
        "google/pro-image-to-image",
        "Nano Banana Pro",
        Family.IMAGEN,
        Kind.IMAGE_TO_IMAGE,
        "Premium image-to-image (or text-to-image without inputs); up to 4K, good at text.",
        # KIE's model id differs from its doc page (docs/reference/kie-api.md §7.5).
        kie_model="nano-banana-pro",
        plan=Plan.PREMIUM,
        seconds=40,
        schema=inputs.nano_banana_pro(),
        # The seed has one flat price, so resolution is not a price variant (yet).
        prices=[_price(15)],
    ),
    _model(
        "flux-2/flex-text-to-image",
        "Flux-2 Flex",
        Family.FLUX2,
        Kind.TEXT_TO_IMAGE,
        "Flexible, creative styles; strong at illustration and typography.",
        seconds=30,
        schema=inputs.flux2(image_to_image=False),
        **_by_resolution(14, 24),
    ),
    _model(
        "flux-2/flex-image-to-image",
        "Flux-2 Flex image-to-image",
        Family.FLUX2,
        Kind.IMAGE_TO_IMAGE,
        "Restyles or combines up to 8 reference images.",
        seconds=35,
        schema=inputs.flux2(image_to_image=True),
        **_by_resolution(14, 24),
    ),
    _model(
        "flux-2/pro-text-to-image",
        "Flux-2 Pro",
        Family.FLUX2,
        Kind.TEXT_TO_IMAGE,
        "Photorealistic, precise prompt following; quick.",
        plan=Plan.PREMIUM,
        seconds=20,
        schema=inputs.flux2(image_to_image=False),
        **_by_resolution(5, 7),
    ),
    _model(
        "flux-2/pro-image-to-image",
        "Flux-2 Pro image-to-image",
        Family.FLUX2,
        Kind.IMAGE_TO_IMAGE,
        "Photorealistic edits and blends of up to 8 reference images.",
        plan=Plan.PREMIUM,
        seconds=25,
        schema=inputs.flux2(image_to_image=True),
        **_by_resolution(5, 7),
    ),
    _model(
        "gpt-image/1.5-text-to-image",
        "GPT Image 1.5",
        Family.GPT_IMAGE,
        Kind.TEXT_TO_IMAGE,
        "Understands long, detailed prompts; good at text and diagrams. Slower.",
        seconds=60,
        schema=inputs.gpt_image(image_to_image=False),
        # One flat price for both qualities in the seed, so quality is not a price variant.
        prices=[_price(6)],
    ),
    _model(
        "gpt-image/1.5-image-to-image",
        "GPT Image 1.5 image-to-image",
        Family.GPT_IMAGE,
        Kind.IMAGE_TO_IMAGE,
        "Edits and combines up to 16 images following detailed instructions.",
        seconds=60,
        schema=inputs.gpt_image(image_to_image=True),
        prices=[_price(6)],
    ),
    _model(
        "seedream/4.5-text-to-image",
        "Seedream 4.5",
        Family.SEEDREAM,
        Kind.TEXT_TO_IMAGE,
        "Sharp 2K or 4K images at a low price; good at posters and products.",
        seconds=25,
        schema=inputs.seedream(edit=False),
        **_by_quality(5, 8),
    ),
    _model(
        "seedream/4.5-edit",
        "Seedream 4.5 Edit",
        Family.SEEDREAM,
        Kind.EDIT,
        "Edits with up to 14 reference images, in 2K or 4K.",
        seconds=30,
        schema=inputs.seedream(edit=True),
        **_by_quality(5, 8),
    ),
    _model(
        "qwen/text-to-image",
        "Qwen Image",
        Family.QWEN,
        Kind.TEXT_TO_IMAGE,
        "Alibaba's model; good at text in images, including Chinese; many knobs.",
        seconds=20,
        schema=inputs.qwen_text_to_image(),
        prices=[_price(5)],
    ),
    _model(
        "qwen/image-to-image",
        "Qwen image-to-image",
        Family.QWEN,
        Kind.IMAGE_TO_IMAGE,
        "Reworks one image; you choose how much of the original to keep.",
        seconds=20,
        schema=inputs.qwen_image_to_image(),
        prices=[_price(5)],
    ),
    _model(
        "grok-imagine/text-to-image",
        "Grok Imagine",
        Family.GROK,
        Kind.TEXT_TO_IMAGE,
        "xAI's model: 6 images per run for one price; great for exploring ideas.",
        seconds=20,
        # KIE returns 6 images per task and bills the task (docs/reference/kie-api.md §7.16).
        images_per_task=6,
        schema=inputs.grok_imagine(),
        prices=[_price(8, unit=PriceUnit.PER_TASK)],
    ),
    _model(
        "ideogram/character",
        "Ideogram Character",
        Family.IDEOGRAM,
        Kind.IMAGE_TO_IMAGE,
        "Keeps one character consistent across new scenes from a single reference photo.",
        seconds=30,
        count_field="num_images",
        schema=inputs.ideogram_character(),
        prices=[_price(10)],
    ),
    _model(
        "recraft/crisp-upscale",
        "Recraft Crisp Upscale",
        Family.RECRAFT,
        Kind.UPSCALE,
        "Makes an image larger and sharper without changing it.",
        plan=Plan.FREE,
        seconds=15,
        schema=inputs.recraft_crisp_upscale(),
        prices=[_price(3)],
    ),
    _model(
        "recraft/remove-background",
        "Recraft Remove Background",
        Family.RECRAFT,
        Kind.REMOVE_BACKGROUND,
        "Cuts out the subject onto a transparent background.",
        plan=Plan.FREE,
        seconds=8,
        schema=inputs.recraft_remove_background(),
        prices=[_price(2)],
    ),
]

# Catalogue order is list order, in steps of 10 so staff can slot a model in between.
SEED_MODELS = [{**entry, "sort_order": position * 10} for position, entry in enumerate(_MODELS, start=1)]

# Base rate: 1 credit = $0.01 (CatalogSettings default); bigger packs carry a bonus.
SEED_PACKS = [
    {"name": "Starter", "price_cents": 500, "credits": 500, "sort_order": 10},
    {"name": "Regular", "price_cents": 1000, "credits": 1000, "sort_order": 20},
    {"name": "Plus", "price_cents": 2500, "credits": 2600, "sort_order": 30},
    {"name": "Studio", "price_cents": 5000, "credits": 5500, "sort_order": 40},
]
