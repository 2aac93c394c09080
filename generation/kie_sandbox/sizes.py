"""The pixel size KIE returns for a model's inputs: one table, `SIZE_RULES`, read by `output_size`.

Sizes follow the size options each model's schema offers (catalog/seed_schemas.py): a `resolution`
of 1K/2K/4K is the long side (1024/2048/4096 px) in the chosen aspect ratio; Seedream's `quality`
says "basic outputs 2K, high outputs 4K"; GPT Image draws OpenAI's three fixed sizes; Qwen's and
Ideogram's named sizes (`square_hd`, `landscape_16_9`, ...) are fal's; models without a size
option draw 1K, or work from their input image (upscale doubles it, background removal keeps it).
Sides are multiples of 8, like the models' own outputs.
"""

from dataclasses import dataclass, field

from generation.aspect import aspect_ratio_parse

ONE_K = 1024
MAX_SIDE = 4096  # KIE's largest output, and Recraft's input limit
RESOLUTION_LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
SEEDREAM_LONG_SIDE = {"basic": 2048, "high": 4096}
GPT_IMAGE_SIZES = {"1:1": (1024, 1024), "2:3": (1024, 1536), "3:2": (1536, 1024)}
NAMED_SIZES = {  # fal's image_size names, which KIE's Qwen and Ideogram models take
    "square": (512, 512),
    "square_hd": (1024, 1024),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


@dataclass(frozen=True)
class SizeRule:
    """How one model turns its inputs into pixels.

    `ratio_field` names the aspect-ratio input ("16:9", or "auto" = the input image's shape);
    `level_field` the input whose value picks the long side from `levels`; `fixed` maps a ratio
    value straight to (width, height); `from_input` is "keep" or "double" for models that work
    on an image and have no size option.
    """

    ratio_field: str = ""
    level_field: str = ""
    levels: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    from_input: str = ""

    @property
    def fields(self):
        """The input fields this rule reads."""
        return {name for name in (self.ratio_field, self.level_field) if name}


_RATIO_1K = SizeRule(ratio_field="aspect_ratio")
_BY_RESOLUTION = SizeRule(ratio_field="aspect_ratio", level_field="resolution", levels=RESOLUTION_LONG_SIDE)
_SEEDREAM = SizeRule(ratio_field="aspect_ratio", level_field="quality", levels=SEEDREAM_LONG_SIDE)
_GPT_IMAGE = SizeRule(ratio_field="aspect_ratio", fixed=GPT_IMAGE_SIZES)
_NAMED = SizeRule(ratio_field="image_size", fixed=NAMED_SIZES)

# Every seed model's KIE id (tests/kie/test_sandbox_sizes.py checks none is missing and that each
# rule reads every size option of the model's schema).
SIZE_RULES = {
    "google/imagen4-fast": _RATIO_1K,
    "google/imagen4": _RATIO_1K,
    "google/imagen4-ultra": _RATIO_1K,
    "google/nano-banana-edit": SizeRule(ratio_field="image_size"),  # an aspect ratio despite its name
    "nano-banana-pro": _BY_RESOLUTION,
    "flux-2/flex-text-to-image": _BY_RESOLUTION,
    "flux-2/flex-image-to-image": _BY_RESOLUTION,
    "flux-2/pro-text-to-image": _BY_RESOLUTION,
    "flux-2/pro-image-to-image": _BY_RESOLUTION,
    "gpt-image/1.5-text-to-image": _GPT_IMAGE,
    "gpt-image/1.5-image-to-image": _GPT_IMAGE,
    "seedream/4.5-text-to-image": _SEEDREAM,
    "seedream/4.5-edit": _SEEDREAM,
    "qwen/text-to-image": _NAMED,
    "qwen/image-to-image": SizeRule(from_input="keep"),
    "grok-imagine/text-to-image": _RATIO_1K,
    "ideogram/character": _NAMED,
    "recraft/crisp-upscale": SizeRule(from_input="double"),
    "recraft/remove-background": SizeRule(from_input="keep"),
}
# A model the tests made up: read whichever common size options it has.
_GENERIC = SizeRule(
    ratio_field="aspect_ratio", level_field="resolution", levels=RESOLUTION_LONG_SIDE, fixed=NAMED_SIZES
)


def _round8(value):
    return max(8, round(value / 8) * 8)


def fit_long_side(ratio, long_side):
    """Return (width, height) of `ratio` = (w, h) with the given long side, sides multiples of 8."""
    width, height = ratio
    if width >= height:
        return _round8(long_side), _round8(long_side * height / width)
    return _round8(long_side * width / height), _round8(long_side)


def _from_input(mode, input_size):
    if input_size is None:
        return (2 * ONE_K, 2 * ONE_K) if mode == "double" else (ONE_K, ONE_K)
    width, height = input_size
    scale = 2 if mode == "double" else 1
    if max(width, height) * scale <= MAX_SIDE and scale == 1:
        return width, height  # background removal keeps the very size it was given
    return fit_long_side((width, height), min(MAX_SIDE, max(width, height) * scale))


def output_size(model, data, *, input_size=None):
    """Return (width, height) of the image KIE's `model` draws for the input `data`.

    `input_size` is the (width, height) of the task's first input image when known: it shapes
    "auto" ratios and the models that work from their input.
    """
    rule = SIZE_RULES.get(model)
    if rule is None:
        rule, data = _GENERIC, {**data, "aspect_ratio": data.get("aspect_ratio") or data.get("image_size")}
    if rule.from_input:
        return _from_input(rule.from_input, input_size)
    ratio_value = str(data.get(rule.ratio_field) or "1:1") if rule.ratio_field else "1:1"
    if ratio_value in rule.fixed:
        return rule.fixed[ratio_value]
    ratio = input_size if ratio_value == "auto" and input_size else aspect_ratio_parse(ratio_value)
    long_side = ONE_K
    if rule.level_field:  # a missing level is KIE's default, the first (1K, basic)
        long_side = rule.levels.get(str(data.get(rule.level_field)), next(iter(rule.levels.values())))
    return fit_long_side(ratio, long_side)
