"""`manage.py seed_examples`: a sample picture for every active model, drawn once, redrawn on --force."""

import io
import math
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image, ImageDraw

from catalog.models import AIModel
from generation.examples import example_prompt
from generation.kie_sandbox.art import font
from generation.kie_sandbox.sizes import output_size
from tests.fixtures_browser import SCREENSHOTS


def seed_examples(*args):
    out = StringIO()
    call_command("seed_examples", *args, stdout=out)
    return out.getvalue()


def stored(model):
    model.refresh_from_db()
    with default_storage.open(model.sample_image.name) as handle:
        return handle.read()


def snapshot(*models):
    """Return {slug: (file name, bytes)} of the models' samples as stored now."""
    result = {}
    for model in models:
        content = stored(model)
        result[model.slug] = (model.sample_image.name, content)
    return result


def defaults(model):
    props = model.input_schema["properties"]
    return {name: prop["default"] for name, prop in props.items() if "default" in prop}


def contact_sheet(models, path):
    """Every model's sample on one page, named, for people to judge the pictures."""
    cell, columns = 300, 5
    rows = math.ceil(len(models) / columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + 26)), (240, 240, 244))
    draw, label = ImageDraw.Draw(sheet), font("sans", 14)
    for number, model in enumerate(models):
        picture = Image.open(io.BytesIO(stored(model))).convert("RGBA")
        picture.thumbnail((cell - 12, cell - 12))
        left, top = (number % columns) * cell, (number // columns) * (cell + 26)
        checker = Image.new("RGBA", picture.size, (205, 205, 210, 255))  # shows cut-outs' transparency
        checker.alpha_composite(picture)
        sheet.paste(
            checker.convert("RGB"), (left + (cell - picture.width) // 2, top + (cell - picture.height) // 2)
        )
        draw.text((left + 8, top + cell), model.name, font=label, fill=(30, 30, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


@pytest.mark.django_db
def test_every_active_model_gets_a_sample_in_its_default_shape():
    hidden = AIModel.objects.get(slug="google/imagen4-ultra")
    hidden.is_active = False
    hidden.save()
    # when
    output = seed_examples()
    # then
    models = list(AIModel.objects.filter(is_active=True))
    assert f"drew {len(models)}" in output
    for model in models:
        content = stored(model)
        picture = Image.open(io.BytesIO(content))
        assert picture.format == "WEBP" and model.sample_image.name.startswith("samples/")
        width, height = output_size(model.kie_model, defaults(model))
        assert max(picture.size) == min(1024, max(width, height)), model.slug
        assert picture.width / picture.height == pytest.approx(width / height, rel=0.02), model.slug
        assert example_prompt(model)
    hidden.refresh_from_db()
    assert not hidden.sample_image
    contact_sheet(models, SCREENSHOTS / "sandbox-samples.png")


@pytest.mark.django_db
def test_seed_examples_is_idempotent_force_redraws_and_a_lost_file_is_drawn_again(media):
    AIModel.objects.exclude(slug__in=["google/imagen4-fast", "recraft/remove-background"]).update(
        is_active=False
    )
    fast, cutout = (
        AIModel.objects.get(slug="google/imagen4-fast"),
        AIModel.objects.get(slug="recraft/remove-background"),
    )
    assert "drew 2" in seed_examples()
    first = snapshot(fast, cutout)
    assert Image.open(io.BytesIO(first[cutout.slug][1])).mode == "RGBA"  # background removed
    # a second run draws nothing
    assert "every active model has one" in seed_examples()
    assert snapshot(fast, cutout) == first
    # --force redraws both under the same names, leaving no old file behind
    assert "drew 2" in seed_examples("--force")
    redrawn = snapshot(fast, cutout)
    assert {slug: name for slug, (name, _content) in redrawn.items()} == {
        slug: name for slug, (name, _content) in first.items()
    }
    assert sorted(path.name for path in Path(media, "samples").iterdir()) == sorted(
        Path(name).name for name, _content in first.values()
    )
    # a sample whose file is gone is drawn again, the other is left alone
    default_storage.delete(fast.sample_image.name)
    assert seed_examples().startswith("Samples: drew 1 (google/imagen4-fast)")
    assert stored(fast) == first[fast.slug][1]  # same model, same prompt, same picture


@pytest.mark.django_db
def test_samples_are_served_to_anyone_but_nothing_else_in_their_folder(client, media):
    AIModel.objects.exclude(slug="google/imagen4-fast").update(is_active=False)
    seed_examples()
    model = AIModel.objects.get(slug="google/imagen4-fast")
    response = client.get(model.sample_image.url)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).format == "WEBP"
    Path(media, "samples", "stray.webp").write_bytes(stored(model))  # on disk, but no model's sample
    assert client.get(model.sample_image.url.replace("google-imagen4-fast", "stray")).status_code == 404
