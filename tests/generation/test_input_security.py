"""The web form and what reaches KIE: the content filter stays on, uploaded images still flow."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from artio.errors import ArtioError
from catalog.models import AIModel
from generation import pipeline, services
from generation.models import Generation

from .test_validation import png_bytes

FLUX = "flux-2/flex-text-to-image"  # standard plan, has nsfw_checker
QWEN = "qwen/text-to-image"  # has enable_safety_checker and nsfw_checker
EDIT = "google/nano-banana-edit"
FLUX_INPUT = {"prompt": "a lighthouse", "aspect_ratio": "1:1", "resolution": "1K"}


def form_html(client, slug):
    return client.get(reverse("generate"), {"model": slug}).content.decode()


def sent_to_kie(kie, generation):
    """Return the input KIE received for `generation`, after the worker dispatched it."""
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    return kie.tasks[generation.kie_task_id].input


@pytest.mark.django_db
def test_users_form_offers_no_content_filter_switch(client, alice, fund):
    fund(alice, 50, plan="standard")
    client.force_login(alice)
    AIModel.objects.filter(slug=QWEN).update(content_filter_optional=True)

    flux, qwen = form_html(client, FLUX), form_html(client, QWEN)

    assert 'name="prompt"' in flux
    assert 'name="nsfw_checker"' not in flux
    assert 'name="nsfw_checker"' not in qwen and 'name="enable_safety_checker"' not in qwen


@pytest.mark.django_db
def test_staff_form_offers_the_switch_only_where_the_model_allows_it(client, staff, fund):
    fund(staff, 50, plan="premium")
    client.force_login(staff)
    AIModel.objects.filter(slug=QWEN).update(content_filter_optional=True)

    assert 'name="nsfw_checker"' in form_html(client, QWEN)
    assert 'name="nsfw_checker"' not in form_html(client, FLUX)


@pytest.mark.django_db
def test_kie_gets_the_filter_on_even_when_a_crafted_form_asks_for_it_off(client, alice, fund, kie, tasks):
    fund(alice, 50, plan="standard")
    client.force_login(alice)
    tasks.run = False

    response = client.post(reverse("generate"), {"model": FLUX, **FLUX_INPUT, "nsfw_checker": "false"})
    generation = Generation.objects.get()

    assert response.status_code == 302
    assert generation.input["nsfw_checker"] is True
    assert sent_to_kie(kie, generation)["nsfw_checker"] is True


@pytest.mark.django_db
def test_kie_gets_both_qwen_filters_on_for_a_user(alice, fund, kie, tasks):
    fund(alice, 50, plan="standard")
    tasks.run = False

    generation = services.generation_create(user=alice, model_slug=QWEN, data={"prompt": "a cat"})

    received = sent_to_kie(kie, generation)
    assert received["nsfw_checker"] is True and received["enable_safety_checker"] is True


@pytest.mark.django_db
def test_staff_switch_reaches_kie_on_a_model_that_allows_it(staff, fund, kie, tasks):
    fund(staff, 50, plan="premium")
    tasks.run = False
    AIModel.objects.filter(slug=FLUX).update(content_filter_optional=True)

    generation = services.generation_create(
        user=staff, model_slug=FLUX, data={**FLUX_INPUT, "nsfw_checker": False}
    )

    assert sent_to_kie(kie, generation)["nsfw_checker"] is False


@pytest.mark.django_db
def test_uploaded_image_reaches_kie_and_runs_again(client, alice, fund, kie, tasks):
    # The sandbox's upload links are http://127.0.0.1:…: ours to trust, not a user's to type.
    fund(alice, 50, plan="standard")
    client.force_login(alice)
    tasks.run = False
    image = SimpleUploadedFile("cat.png", png_bytes(), content_type="image/png")
    client.post(reverse("generate"), {"model": EDIT, "prompt": "make it blue", "image_urls": [image]})
    first = Generation.objects.get()

    received = sent_to_kie(kie, first)
    rerun = client.post(reverse("generation-rerun", args=[first.public_id]))

    assert received["image_urls"] == first.input["image_urls"]
    assert received["image_urls"][0].startswith(kie.base_url + "/uploads/")
    assert rerun.status_code == 302
    assert Generation.objects.exclude(pk=first.pk).get().input == first.input


@pytest.mark.django_db
def test_typed_link_to_another_loopback_port_is_refused_on_the_web_path(alice, fund, kie, tasks):
    account = fund(alice, 50, plan="standard")
    data = {"prompt": "make it blue", "image_urls": ["http://127.0.0.1:9/secret.png"]}

    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug=EDIT, data=data)

    assert list(excinfo.value.details) == ["image_urls.0"]
    account.refresh_from_db()
    assert account.balance == 50 and not Generation.objects.exists()
