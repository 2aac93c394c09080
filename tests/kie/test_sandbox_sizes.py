"""The simulator's output sizes: every seed model, every value of every size option it offers."""

import itertools

import pytest

from catalog.seed import SEED_MODELS
from generation.aspect import aspect_ratio_parse
from generation.kie_sandbox.sizes import SIZE_RULES, output_size

# The spec, written out independently of the table it checks.
LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
SEEDREAM_QUALITY = {"basic": 2048, "high": 4096}  # "basic outputs 2K images, high outputs 4K"
GPT_IMAGE = {"1:1": (1024, 1024), "2:3": (1024, 1536), "3:2": (1536, 1024)}
NAMED = {
    "square": (512, 512),
    "square_hd": (1024, 1024),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
SIZE_OPTIONS = ("aspect_ratio", "image_size", "resolution", "quality")


def size_options(entry):
    """Return {field: enum values} of the model's inputs that may shape its output."""
    props = entry["input_schema"]["properties"]
    return {name: props[name]["enum"] for name in SIZE_OPTIONS if name in props and "enum" in props[name]}


def expected(entry, data):
    family, ratio = entry["family"], data.get("aspect_ratio") or data.get("image_size") or "1:1"
    if ratio in NAMED:
        return NAMED[ratio]
    if family == "gpt-image":
        return GPT_IMAGE[ratio]
    long_side = 1024
    if entry["kind"] == "upscale":
        long_side = 2048  # no input image known: a 1K one, doubled
    elif "resolution" in data:
        long_side = LONG_SIDE[data["resolution"]]
    elif family == "seedream":
        long_side = SEEDREAM_QUALITY[data["quality"]]
    return long_side, aspect_ratio_parse(ratio)  # "auto" without an input image is square


def combinations(entry):
    options = size_options(entry)
    for values in itertools.product(*options.values()):
        yield dict(zip(options, values, strict=True))


@pytest.mark.parametrize("entry", SEED_MODELS, ids=lambda entry: entry["slug"])
def test_every_value_of_every_size_option_of_every_seed_model(entry):
    cases = list(combinations(entry))
    assert cases  # a model with no size option still has the empty combination
    for data in cases:
        width, height = output_size(entry["kie_model"], {"prompt": "x", **data})
        want = expected(entry, data)
        if isinstance(want[1], tuple):
            long_side, (ratio_w, ratio_h) = want
            assert max(width, height) == long_side, (data, width, height)
            assert width / height == pytest.approx(ratio_w / ratio_h, rel=0.01), (data, width, height)
            assert width % 8 == 0 and height % 8 == 0, (data, width, height)
        else:
            assert (width, height) == want, data


def test_the_table_names_every_seed_model_and_only_options_its_schema_has():
    assert set(SIZE_RULES) == {entry["kie_model"] for entry in SEED_MODELS}
    for entry in SEED_MODELS:
        rule = SIZE_RULES[entry["kie_model"]]
        assert rule.fields <= set(size_options(entry)), entry["slug"]
        # Every size option a model offers is read, except GPT Image's quality (same pixels).
        unread = set(size_options(entry)) - rule.fields
        assert unread <= ({"quality"} if entry["family"] == "gpt-image" else set()), entry["slug"]


@pytest.mark.parametrize(
    ("model", "data", "input_size", "size"),
    [
        ("nano-banana-pro", {"aspect_ratio": "16:9", "resolution": "2K"}, None, (2048, 1152)),
        ("nano-banana-pro", {"aspect_ratio": "9:16", "resolution": "4K"}, None, (2304, 4096)),
        ("nano-banana-pro", {"aspect_ratio": "21:9", "resolution": "4K"}, None, (4096, 1752)),
        ("nano-banana-pro", {"aspect_ratio": "auto", "resolution": "1K"}, (900, 1200), (768, 1024)),
        (
            "flux-2/flex-image-to-image",
            {"aspect_ratio": "auto", "resolution": "2K"},
            (300, 600),
            (1024, 2048),
        ),
        ("flux-2/pro-text-to-image", {"aspect_ratio": "3:2", "resolution": "1K"}, None, (1024, 680)),
        ("seedream/4.5-text-to-image", {"aspect_ratio": "4:3", "quality": "basic"}, None, (2048, 1536)),
        ("seedream/4.5-edit", {"aspect_ratio": "1:1"}, None, (2048, 2048)),  # quality left out: basic
        ("gpt-image/1.5-text-to-image", {"aspect_ratio": "3:2", "quality": "high"}, None, (1536, 1024)),
        ("google/imagen4-fast", {"aspect_ratio": "16:9"}, None, (1024, 576)),
        ("google/nano-banana-edit", {"image_size": "auto"}, (600, 400), (1024, 680)),
        ("google/nano-banana-edit", {"image_size": "4:5"}, None, (816, 1024)),
        ("qwen/text-to-image", {"image_size": "portrait_16_9"}, None, (576, 1024)),
        ("ideogram/character", {"image_size": "square"}, None, (512, 512)),
        ("grok-imagine/text-to-image", {"aspect_ratio": "2:3"}, None, (680, 1024)),
        ("qwen/image-to-image", {}, (640, 480), (640, 480)),
        ("qwen/image-to-image", {}, None, (1024, 1024)),
        ("recraft/crisp-upscale", {}, (800, 600), (1600, 1200)),
        ("recraft/crisp-upscale", {}, (3000, 2000), (4096, 2728)),
        ("recraft/crisp-upscale", {}, None, (2048, 2048)),
        ("recraft/remove-background", {}, (1000, 500), (1000, 500)),
        ("recraft/remove-background", {}, None, (1024, 1024)),
        ("made/up-model", {"aspect_ratio": "16:9", "resolution": "4K"}, None, (4096, 2304)),
        ("made/up-model", {"image_size": "landscape_4_3"}, None, (1024, 768)),
        ("made/up-model", {}, None, (1024, 1024)),
    ],
)
def test_sizes_by_hand(model, data, input_size, size):
    assert output_size(model, {"prompt": "x", **data}, input_size=input_size) == size
