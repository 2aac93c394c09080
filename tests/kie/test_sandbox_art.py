"""The simulator's pictures: the requested size, the same prompt the same picture, words set,
edit models working on their input, and results over HTTP at the size the options ask for."""

import io
import time

import pytest
import requests
from PIL import Image, ImageChops, ImageStat

from generation.kie import KieClient
from generation.kie_sandbox import art
from generation.kie_sandbox.art import STYLE_BY_MODEL, artwork, artwork_png, source_image, style_for
from generation.kie_sandbox.painters import STYLES
from tests.fixtures_browser import SCREENSHOTS

# One model per style, so every painter is exercised.
STYLE_MODELS = {style: model for model, style in reversed(STYLE_BY_MODEL)}
PROMPT = "a paper boat drifting on a misty lake at dawn"


def png_image(content):
    return Image.open(io.BytesIO(content))


def solid_png(colour, size=(600, 400)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def difference(first, second):
    """Mean absolute difference per channel, 0-255."""
    diff = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def test_every_style_is_reached_by_some_model():
    assert set(STYLE_MODELS) == set(STYLES)
    assert style_for("made/up") in STYLES  # unknown models get a style too


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_style_draws_the_exact_size_the_same_way_every_time(style):
    model = STYLE_MODELS[style]
    for size in ((333, 517), (517, 333)):
        first = artwork_png(model=model, prompt=PROMPT, size=size, label="KIE sandbox")
        assert png_image(first).size == size
        assert artwork_png(model=model, prompt=PROMPT, size=size, label="KIE sandbox") == first


@pytest.mark.parametrize("style", sorted(STYLES))
def test_different_prompts_and_images_of_a_set_differ(style):
    model = STYLE_MODELS[style]
    draw = lambda prompt, index=1: artwork(model=model, prompt=prompt, size=(256, 256), index=index)  # noqa: E731
    base = draw(PROMPT)
    assert difference(base, draw("neon city street in the rain")) > 8
    assert difference(base, draw(PROMPT, index=2)) > 3


def test_one_prompt_on_every_style_makes_a_varied_compare_grid():
    prompt = "a lighthouse on a cliff at dusk, waves below"
    shapes = [(480, 270), (270, 480), (360, 360), (480, 206)]  # 16:9, 9:16, 1:1, 21:9
    pictures = [
        artwork(model=STYLE_MODELS[style], prompt=prompt, size=shapes[number % 4], label=STYLE_MODELS[style])
        for number, style in enumerate(sorted(STYLES))
    ]
    squares = [picture.resize((128, 128)) for picture in pictures]
    for number, first in enumerate(squares):
        for second in squares[number + 1 :]:
            assert difference(first, second) > 12  # no two styles look alike
    sheet = Image.new("RGB", (4 * 500, 2 * 500), (240, 240, 244))
    for number, picture in enumerate(pictures):
        sheet.paste(picture, ((number % 4) * 500 + 10, (number // 4) * 500 + 10))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sheet.save(SCREENSHOTS / "sandbox-compare.png")


def test_the_prompts_words_are_set_on_the_picture():
    bare = artwork(model="google/imagen4", prompt=PROMPT, size=(512, 512), caption=False)
    worded = artwork(model="google/imagen4", prompt=PROMPT, size=(512, 512))
    top = (0, 0, 512, 200)
    assert difference(bare.crop(top), worded.crop(top)) < 1  # the words sit at the bottom
    assert difference(bare.crop((0, 380, 512, 512)), worded.crop((0, 380, 512, 512))) > 10


@pytest.mark.parametrize("prompt", ["", "x" * 300, "word " * 1000, "ünïcødé ✨ 猫 🚀 " * 20])
def test_any_prompt_draws(prompt):
    for model in ("google/imagen4", "ideogram/character"):
        assert artwork(model=model, prompt=prompt, size=(300, 200), label="l").size == (300, 200)


def test_without_a_truetype_font_pillows_default_is_used(monkeypatch):
    monkeypatch.setattr(art, "FONT_DIRS", ())
    art.font.cache_clear()
    try:
        assert art.font("serif", 40).size == 40
        assert artwork(model="google/imagen4", prompt=PROMPT, size=(300, 200)).size == (300, 200)
    finally:
        art.font.cache_clear()


def test_a_4k_picture_is_exact_and_light():
    content = artwork_png(model="nano-banana-pro", prompt=PROMPT, size=(4096, 2304), label="KIE sandbox")
    assert png_image(content).size == (4096, 2304)
    assert len(content) < 6_000_000


# --- models that work on an image ------------------------------------------------------------------


def test_edit_models_tint_their_input_with_the_prompts_colours():
    red, blue = source_image(solid_png("red")), source_image(solid_png("blue"))
    on_red = artwork(model="google/nano-banana-edit", prompt=PROMPT, size=(300, 200), source=red)
    on_blue = artwork(model="google/nano-banana-edit", prompt=PROMPT, size=(300, 200), source=blue)
    assert on_red.size == (300, 200)
    assert difference(on_red, on_blue) > 20


def test_the_upscaler_enlarges_its_input_and_background_removal_cuts_it_out():
    source = source_image(solid_png((10, 200, 30), size=(400, 300)))
    upscaled = artwork(model="recraft/crisp-upscale", prompt="", size=(800, 600), source=source)
    assert upscaled.getpixel((400, 300)) == (10, 200, 30)
    cut = artwork(model="recraft/remove-background", prompt="", size=(400, 300), source=source)
    assert cut.mode == "RGBA"
    assert cut.getpixel((2, 2))[3] == 0 and cut.getpixel((200, 280))[3] == 255  # a portrait's shoulders


def test_unusable_inputs_are_not_decoded(monkeypatch):
    assert source_image(b"not an image") is None
    monkeypatch.setattr(art, "MAX_SOURCE_PIXELS", 1000)
    assert source_image(solid_png("red")) is None  # a decompression bomb stays shut


# --- over HTTP ------------------------------------------------------------------------------------


def finished_urls(sandbox, client, model, data):
    task_id = client.create_task(model=model, input=data, callback_url=None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = client.record_info(task_id=task_id)
        if record.state in ("success", "fail"):
            assert record.state == "success", record.fail_msg
            return record.result_urls
        time.sleep(0.05)
    raise AssertionError("task never finished")


@pytest.fixture
def client(kie_sandbox):
    return KieClient(api_base=kie_sandbox.base_url, upload_base=kie_sandbox.base_url, api_key="sandbox")


@pytest.mark.parametrize(
    ("model", "data", "size"),
    [
        ("nano-banana-pro", {"aspect_ratio": "16:9", "resolution": "2K"}, (2048, 1152)),
        ("seedream/4.5-text-to-image", {"aspect_ratio": "3:4", "quality": "high"}, (3072, 4096)),
        ("qwen/text-to-image", {"image_size": "landscape_16_9"}, (1024, 576)),
    ],
)
def test_results_over_http_have_the_size_the_options_ask_for(kie_sandbox, client, model, data, size):
    (url,) = finished_urls(kie_sandbox, client, model, {"prompt": PROMPT, **data})
    content, content_type = client.download(url=url, max_bytes=30_000_000)
    assert content_type == "image/png" and png_image(content).size == size
    assert requests.get(url, timeout=5).content == content  # drawn again (or cached), same bytes


def test_an_edit_over_http_works_on_the_uploaded_image_in_its_shape(kie_sandbox, client):
    shades = []
    for colour in ("red", "blue"):
        upload = client.upload_file(content=solid_png(colour), filename="in.png", content_type="image/png")
        data = {"prompt": PROMPT, "image_urls": [upload], "image_size": "auto", "output_format": "png"}
        (url,) = finished_urls(kie_sandbox, client, "google/nano-banana-edit", data)
        image = png_image(client.download(url=url, max_bytes=30_000_000)[0])
        assert image.size == (1024, 680)  # "auto": the 600x400 input's shape, 1K
        shades.append(image)
    assert difference(*shades) > 20
