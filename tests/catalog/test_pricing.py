import pytest

from catalog.models import AIModel
from catalog.pricing import discounted, generation_quote
from catalog.schemas import validate_input
from tests.catalog.test_seed import SEED_PRICES

# A minimal valid input per model; the quote runs on it after validation, as the pages and API do.
IMAGE = "https://example.com/cat.png"
MINIMAL_INPUT = {
    "google/imagen4-fast": {"prompt": "a cat"},
    "google/imagen4": {"prompt": "a cat"},
    "google/imagen4-ultra": {"prompt": "a cat"},
    "google/nano-banana-edit": {"prompt": "make it blue", "image_urls": [IMAGE]},
    "google/pro-image-to-image": {"prompt": "a cat"},
    "flux-2/flex-text-to-image": {"prompt": "a cat", "aspect_ratio": "1:1", "resolution": "2K"},
    "flux-2/flex-image-to-image": {
        "prompt": "a cat",
        "input_urls": [IMAGE],
        "aspect_ratio": "auto",
        "resolution": "1K",
    },
    "flux-2/pro-text-to-image": {"prompt": "a cat", "aspect_ratio": "1:1", "resolution": "1K"},
    "flux-2/pro-image-to-image": {
        "prompt": "a cat",
        "input_urls": [IMAGE],
        "aspect_ratio": "1:1",
        "resolution": "2K",
    },
    "gpt-image/1.5-text-to-image": {"prompt": "a cat", "aspect_ratio": "1:1", "quality": "high"},
    "gpt-image/1.5-image-to-image": {
        "prompt": "a cat",
        "input_urls": [IMAGE],
        "aspect_ratio": "3:2",
        "quality": "medium",
    },
    "seedream/4.5-text-to-image": {"prompt": "a cat", "aspect_ratio": "1:1", "quality": "high"},
    "seedream/4.5-edit": {
        "prompt": "a cat",
        "image_urls": [IMAGE],
        "aspect_ratio": "1:1",
        "quality": "basic",
    },
    "qwen/text-to-image": {"prompt": "a cat"},
    "qwen/image-to-image": {"prompt": "a cat", "image_url": IMAGE},
    "grok-imagine/text-to-image": {"prompt": "a cat"},
    "ideogram/character": {"prompt": "a cat", "reference_image_urls": [IMAGE], "num_images": 3},
    "recraft/crisp-upscale": {"image": IMAGE},
    "recraft/remove-background": {"image": IMAGE},
}
# What each input above costs with the seed's prices.
EXPECTED = {
    "flux-2/flex-text-to-image": SEED_PRICES[("flux-2/flex-text-to-image", "2K")],
    "flux-2/flex-image-to-image": SEED_PRICES[("flux-2/flex-image-to-image", "1K")],
    "flux-2/pro-text-to-image": SEED_PRICES[("flux-2/pro-text-to-image", "1K")],
    "flux-2/pro-image-to-image": SEED_PRICES[("flux-2/pro-image-to-image", "2K")],
    "seedream/4.5-text-to-image": SEED_PRICES[("seedream/4.5-text-to-image", "high")],
    "seedream/4.5-edit": SEED_PRICES[("seedream/4.5-edit", "basic")],
    "ideogram/character": 3 * 10,
    "grok-imagine/text-to-image": 8,  # one task, six images
}


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(MINIMAL_INPUT))
def test_every_seed_model_quotes_its_seed_price(slug):
    model = AIModel.objects.prefetch_related("prices").get(slug=slug)
    data = validate_input(model.input_schema, MINIMAL_INPUT[slug])

    quote = generation_quote(model=model, data=data)

    assert quote.credits == EXPECTED.get(slug, SEED_PRICES.get((slug, ""))), slug


@pytest.mark.django_db
def test_imagen4_fast_default_count_is_one_image_and_four_cost_sixteen():
    model = AIModel.objects.get(slug="google/imagen4-fast")
    one = generation_quote(model=model, data=validate_input(model.input_schema, {"prompt": "x"}))
    four = generation_quote(
        model=model, data=validate_input(model.input_schema, {"prompt": "x", "num_images": 4})
    )
    assert (one.images, one.credits) == (1, 4)
    assert (four.images, four.credits) == (4, 16)


@pytest.mark.django_db
def test_grok_quote_returns_six_images_for_one_task_price():
    model = AIModel.objects.get(slug="grok-imagine/text-to-image")
    quote = generation_quote(model=model, data=validate_input(model.input_schema, {"prompt": "x"}))
    assert (quote.images, quote.credits) == (6, 8)


@pytest.mark.parametrize(
    ("credits", "percent", "expected"),
    [(10, 0, 10), (10, 15, 9), (7, 10, 7), (24, 50, 12), (2, 99, 1), (5, 100, 1), (8, None, 8)],
)
def test_discount_rounds_up_and_never_goes_below_one_credit(credits, percent, expected):
    assert discounted(credits, percent) == expected


@pytest.mark.django_db
def test_quote_applies_the_same_discount_rule():
    model = AIModel.objects.get(slug="ideogram/character")
    data = validate_input(model.input_schema, MINIMAL_INPUT["ideogram/character"])
    quote = generation_quote(model=model, data=data, discount_percent=15)
    assert quote.base_credits == 30
    assert quote.credits == discounted(30, 15) == 26
