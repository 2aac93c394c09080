"""Through the whole pipeline, a purchase stores an image of the size its options asked for."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation import services
from generation.models import Status
from tests.fixtures_browser import SCREENSHOTS
from tests.pipeline_helpers import run_until_terminal


def png_bytes(size, colour="teal"):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def bought(user, slug, data, django_capture_on_commit_callbacks, **extra):
    with django_capture_on_commit_callbacks(execute=True):
        generation = services.generation_create(user=user, model_slug=slug, data=data, **extra)
    generation = run_until_terminal(generation, dispatch=False)
    assert generation.status == Status.SUCCEEDED
    return generation


def stored_size(image, keep_as=None):
    """Return the stored file's real size; `keep_as` also copies it among the screenshots."""
    with default_storage.open(image.file.name) as handle:
        content = handle.read()
    if keep_as:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / keep_as).write_bytes(content)
    return Image.open(io.BytesIO(content)).size


@pytest.mark.django_db
def test_a_2k_16_9_purchase_stores_a_2048_by_1152_image(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    fund(alice, 100, plan="standard")
    data = {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "resolution": "2K"}
    generation = bought(alice, "flux-2/flex-text-to-image", data, django_capture_on_commit_callbacks)
    (image,) = generation.images.all()
    assert generation.credits_charged == 24  # the 2K price
    assert (
        (image.width, image.height)
        == (2048, 1152)
        == stored_size(image, keep_as="sandbox-result-2k-16x9.png")
    )


@pytest.mark.django_db
def test_an_edit_in_auto_shape_takes_its_uploaded_images_shape(
    alice, fund, kie, tasks, django_capture_on_commit_callbacks
):
    fund(alice, 100, plan="standard")
    upload = SimpleUploadedFile("wide.png", png_bytes((900, 300)), content_type="image/png")
    data = {"prompt": "make it dusk", "image_size": "auto"}
    generation = bought(
        alice,
        "google/nano-banana-edit",
        data,
        django_capture_on_commit_callbacks,
        uploads={"image_urls": [upload]},
    )
    (image,) = generation.images.all()
    assert (image.width, image.height) == (1024, 344) == stored_size(image)  # 3:1 at 1K
