"""The studio's pages: Generate with results in place, kept image inputs, downloads, prompt history."""

import os
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import Schedule

from billing.models import LedgerEntry
from generation import downloads, kept, services, storage
from generation import tasks as tasks_module
from generation.models import Generation, GenerationImage, Status

from .test_validation import png_bytes

FAST = "google/imagen4-fast"
EDIT = "google/nano-banana-edit"
HTMX = {"HTTP_HX_REQUEST": "true"}
NAME = "artio-a-paper-boat-on-a-lake-imagen4-fast-1.png"


def make(user, prompt="a paper boat on a lake", **extra):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": prompt, **extra})


def finish_with_image(generation, position=0):
    """Store an image for `generation` the way the pipeline does, and mark it succeeded."""
    fields = storage.image_save(content=png_bytes())
    image = GenerationImage.objects.create(generation=generation, position=position, **fields)
    Generation.objects.filter(pk=generation.pk).update(status=Status.SUCCEEDED)
    return image


# --- The page ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_generate_page_puts_the_prompt_first_and_every_model_in_the_picker(alice_client, alice, fund, tasks):
    fund(alice, 50)
    html = alice_client.get(reverse("generate")).content.decode()
    assert html.index('id="id_prompt"') < html.index('id="picker"') < html.index('name="num_images"')
    # Every one of the 19 models is in the picker, with its price, time and plan; none hidden.
    assert html.count("data-picker-item") == 19
    assert 'data-search="imagen 4 fast google/imagen4-fast' in html
    assert "~10&nbsp;s" in html and "Free plan" in html and "Needs Premium plan" in html
    # No sample yet: a placeholder in the family's colours.
    assert 'class="sample sample--imagen"' in html
    assert reverse("compare") in html


@pytest.mark.django_db
def test_a_models_sample_image_is_shown_and_served(alice_client, alice, fund, settings):
    from catalog.models import AIModel

    fund(alice, 50)
    model = AIModel.objects.get(slug=FAST)
    model.sample_image.save("imagen4-fast.png", SimpleUploadedFile("x.png", png_bytes()), save=True)
    html = alice_client.get(reverse("generate")).content.decode()
    assert f'src="{model.sample_image.url}"' in html
    assert alice_client.get(model.sample_image.url).status_code == 200


@pytest.mark.django_db
def test_generate_page_costs_a_constant_number_of_queries(
    alice_client, alice, fund, tasks, django_assert_max_num_queries
):
    fund(alice, 500)
    tasks.run = False
    url = reverse("generate") + f"?model={FAST}"
    finish_with_image(make(alice, prompt="first"))
    alice_client.get(url)  # the catalogue's memory warm, as in a running process
    with CaptureQueriesContext(connection) as few:
        alice_client.get(url)
    for i in range(8):
        finish_with_image(make(alice, prompt=f"prompt {i}"))
    with django_assert_max_num_queries(14):
        response = alice_client.get(url)
    with CaptureQueriesContext(connection) as many:
        alice_client.get(url)
    assert len(many) == len(few)  # 1 generation or 9: the same statements
    html = response.content.decode()
    assert html.count('class="result card') == 6  # the latest six, large, in place
    assert html.count("history__item") == 8


@pytest.mark.django_db
def test_short_balance_disables_the_button_and_offers_a_top_up(alice_client, alice, fund):
    fund(alice, 2)
    html = alice_client.get(reverse("generate-quote"), {"model": FAST, "num_images": "1"}).content.decode()
    button = re.search(r"<button[^>]*gen-submit__button[^>]*>", html)[0]
    assert "disabled" in button
    assert "You need 2 more credits" in html and "Top up</a>" in html
    assert "Balance after: -2" in html  # still exact; the button no longer lets it happen


@pytest.mark.django_db
def test_a_prompt_over_the_limit_is_refused_whole_never_cut(alice_client, alice, fund, tasks):
    fund(alice, 50)
    prompt = "a" * 5003
    response = alice_client.post(reverse("generate"), {"model": FAST, "prompt": prompt, "num_images": "1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "This is 5003 characters; the limit is 5000. Nothing was cut" in html
    assert prompt + "</textarea>" in html  # given back whole
    assert not Generation.objects.exists()


# --- Results in place (htmx) ---------------------------------------------------------------------


@pytest.mark.django_db
def test_htmx_generate_answers_the_new_card_and_says_the_balance_changed(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    response = alice_client.post(
        reverse("generate"), {"model": FAST, "prompt": "a cat", "num_images": "2"}, **HTMX
    )
    html = response.content.decode()
    generation = Generation.objects.get()
    assert response.status_code == 200 and response["HX-Trigger"] == "balance-changed"
    assert "<html" not in html and f'id="card-{generation.public_id}"' in html
    assert 'hx-trigger="every 2s"' in html and "is-fresh" in html
    assert "Re-run · 8 credits" in html  # the price is on the button


@pytest.mark.django_db
def test_htmx_generate_with_an_error_swaps_the_form_back_in_place(alice_client, alice, fund, tasks):
    fund(alice, 3)
    response = alice_client.post(
        reverse("generate"), {"model": FAST, "prompt": "a cat", "num_images": "1"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx
    assert response["HX-Retarget"] == "#compose" and response["HX-Reswap"] == "outerHTML"
    assert "This costs 4 credits; your balance is 3." in html and "a cat</textarea>" in html
    assert "HX-Trigger" not in response


@pytest.mark.django_db
def test_card_polls_until_it_ends_and_a_refund_refreshes_the_balance(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    url = reverse("generation-card", args=[generation.public_id])
    running = alice_client.get(url, **HTMX)
    assert 'hx-trigger="every 2s"' in running.content.decode() and "HX-Trigger" not in running
    services.generation_cancel(generation_id=generation.pk)
    done = alice_client.get(url, **HTMX)
    html = done.content.decode()
    assert "every 2s" not in html and "data-terminal" in html
    assert "4 credits refunded" in html and done["HX-Trigger"] == "balance-changed"
    # Deleted in another tab: the card stops polling (htmx's 286) instead of asking for ever.
    services.generation_trash(generation=generation)
    assert alice_client.get(url, **HTMX).status_code == 286


@pytest.mark.django_db
def test_rerun_from_a_card_shows_its_price_and_answers_the_new_card(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    first = make(alice, num_images=3)
    detail = alice_client.get(first.get_absolute_url()).content.decode()
    assert "Re-run · 12 credits" in detail
    response = alice_client.post(reverse("generation-rerun", args=[first.public_id]), **HTMX)
    second = Generation.objects.exclude(pk=first.pk).get()
    assert response["HX-Trigger"] == "balance-changed"
    assert f'id="card-{second.public_id}"' in response.content.decode()
    assert second.credits_charged == 12


@pytest.mark.django_db
def test_rerun_refused_answers_an_alert_and_charges_nothing(alice_client, alice, fund, tasks):
    fund(alice, 4)
    tasks.run = False
    first = make(alice)
    response = alice_client.post(reverse("generation-rerun", args=[first.public_id]), **HTMX)
    assert response["HX-Retarget"] == "#studio-alert"
    assert "This costs 4 credits; your balance is 0." in response.content.decode()
    assert Generation.objects.count() == 1


# --- Downloads -----------------------------------------------------------------------------------


def test_download_names_are_readable():
    name = downloads.download_name(
        prompt="A paper boat on a lake!", model_slug="google/imagen4-fast", position=0, file_name="x/abc.png"
    )
    assert name == "artio-a-paper-boat-on-a-lake-imagen4-fast-1.png"
    long = downloads.download_name(
        prompt="é" * 3 + " " + "word " * 40, model_slug="qwen/x", position=2, file_name="a.jpg"
    )
    assert long.startswith("artio-e") and long.endswith("-x-3.jpg") and len(long) < 80
    assert (
        downloads.download_name(prompt="", model_slug="m", position=0, file_name="a.webp")
        == "artio-image-m-1.webp"
    )


@pytest.mark.django_db
def test_download_answers_an_attachment_with_the_readable_name(alice_client, client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    image = finish_with_image(generation)
    page = alice_client.get(reverse("generate")).content.decode()
    assert f'data-download="{image.file.url}?download=1"' in page and "data-viewer-item" in page
    response = alice_client.get(image.file.url, {"download": "1"})
    assert response.status_code == 200
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="artio-a-paper-boat-on-a-lake-imagen4-fast-1.png"'
    )
    assert not alice_client.get(image.file.url)["Content-Disposition"].startswith("attachment")
    # A thumbnail is no download, and a trashed image none at all.
    assert alice_client.get(image.thumbnail.url, {"download": "1"}).status_code == 404
    services.generation_trash(generation=generation)
    assert alice_client.get(image.file.url, {"download": "1"}).status_code == 404


@pytest.mark.django_db
def test_download_url_on_s3_asks_the_bucket_for_the_same_name(alice, fund, tasks, settings, monkeypatch):
    fund(alice, 50)
    tasks.run = False
    image = finish_with_image(make(alice))
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    asked = {}

    class Bucket:
        def url(self, name, parameters=None):
            asked.update(name=name, **parameters)

    monkeypatch.setattr(downloads, "default_storage", Bucket())
    downloads.image_download_url(GenerationImage.objects.select_related("generation__model").get(pk=image.pk))
    assert asked == {
        "name": image.file.name,
        "ResponseContentDisposition": f'attachment; filename="{NAME}"',
    }


# --- Image inputs that survive an error, and "use as input" --------------------------------------


@pytest.mark.django_db
def test_a_chosen_image_survives_a_form_error_and_is_used_on_the_next_submit(
    alice_client, alice, bob, fund, kie, tasks, client
):
    fund(alice, 50, plan="standard")
    tasks.run = False
    image = SimpleUploadedFile("cat.png", png_bytes(), content_type="image/png")
    # when: the prompt is missing, the form comes back...
    response = alice_client.post(reverse("generate"), {"model": EDIT, "prompt": "", "image_urls": [image]})
    html = response.content.decode()
    assert response.status_code == 400 and not Generation.objects.exists()
    # ...still holding the image, with a preview only its owner can see
    ref = re.search(r'name="image_urls__kept" value="(k:[^"]+)"', html)[1]
    preview = re.search(r'<img src="(/generate/kept/[^"]+)" alt="Chosen image 1"', html)[1]
    assert alice_client.get(preview).status_code == 200
    client.force_login(bob)
    assert client.get(preview).status_code == 404
    client.force_login(alice)
    # then: submitting again with a prompt uses it, and it is uploaded to KIE once
    response = alice_client.post(
        reverse("generate"), {"model": EDIT, "prompt": "make it blue", "image_urls__kept": [ref]}
    )
    generation = Generation.objects.get()
    assert response.status_code == 302
    assert generation.input["image_urls"][0].startswith(kie.base_url + "/uploads/")
    assert alice_client.get(preview).status_code == 404  # a used kept file is forgotten


@pytest.mark.django_db
def test_kept_uploads_of_forms_never_sent_again_go_after_a_day(alice_client, alice, fund, media):
    fund(alice, 50, plan="standard")

    def keep(name):
        image = SimpleUploadedFile(name, png_bytes(), content_type="image/png")
        form = {"model": EDIT, "prompt": "", "image_urls": [image]}
        response = alice_client.post(reverse("generate"), form)
        preview = re.search(r'<img src="(/generate/kept/[^"]+)" alt="Chosen', response.content.decode())[1]
        return preview, media / "kept" / str(alice.pk) / preview.rsplit("/", 1)[1]

    old_preview, old_file = keep("old.png")
    new_preview, _new_file = keep("new.png")
    day_and_a_bit = time.time() - (kept.KEPT_HOURS + 1) * 3600
    os.utime(old_file, (day_and_a_bit, day_and_a_bit))
    result = media / "generations" / "kept-alone.png"  # anything outside kept/ is not the sweep's
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(png_bytes())
    os.utime(result, (day_and_a_bit, day_and_a_bit))

    assert tasks_module.kept_uploads_expire() == 1
    assert alice_client.get(old_preview).status_code == 404
    assert alice_client.get(new_preview).status_code == 200
    assert result.exists()
    schedule = Schedule.objects.get(name="generation-kept-uploads-expire")
    assert schedule.func == "generation.tasks.kept_uploads_expire" and schedule.schedule_type == "D"


def test_the_kept_sweep_with_nothing_kept_deletes_nothing(media):
    assert kept.kept_expired_delete() == 0


@pytest.mark.django_db
def test_another_users_kept_reference_is_ignored(alice_client, alice, bob, fund, kie, tasks, client):
    fund(alice, 50, plan="standard")
    client.force_login(bob)
    bob_image = SimpleUploadedFile("b.png", png_bytes(), content_type="image/png")
    html = client.post(
        reverse("generate"), {"model": EDIT, "prompt": "", "image_urls": [bob_image]}
    ).content.decode()
    ref = re.search(r'name="image_urls__kept" value="(k:[^"]+)"', html)[1]
    client.force_login(alice)
    response = client.post(reverse("generate"), {"model": EDIT, "prompt": "x", "image_urls__kept": [ref]})
    assert response.status_code == 400 and not Generation.objects.exists()


@pytest.mark.django_db
def test_use_as_input_prefills_an_edit_model_with_the_users_own_image(
    alice_client, alice, bob, fund, kie, tasks, client
):
    fund(alice, 50, plan="standard")
    tasks.run = False
    source = make(alice)
    image = finish_with_image(source)
    ref = f"g:{source.public_id}:0"
    html = alice_client.get(reverse("generate"), {"use": ref}).content.decode()
    assert f'name="model" value="{EDIT}"' in html
    assert f'name="image_urls__kept" value="{ref}"' in html and image.thumbnail.url in html
    # Someone else's image is not offered
    client.force_login(bob)
    assert ref not in client.get(reverse("generate"), {"use": ref}).content.decode()
    client.force_login(alice)
    alice_client.post(reverse("generate"), {"model": EDIT, "prompt": "blue", "image_urls__kept": [ref]})
    edit = Generation.objects.get(model__slug=EDIT)
    assert edit.input["image_urls"][0].startswith(kie.base_url + "/uploads/")


# --- Prompt history ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prompt_history_lists_recent_distinct_prompts_and_reuses_one(alice_client, alice, bob, fund, tasks):
    fund(alice, 50)
    fund(bob, 50)
    tasks.run = False
    old = make(alice, prompt="a red fox")
    make(alice, prompt="a lighthouse")
    make(alice, prompt="a red fox")
    make(bob, prompt="bob's secret")
    html = alice_client.get(reverse("generate")).content.decode()
    history = re.findall(r'data-prompt-fill="([^"]*)"', html)
    assert history == ["a red fox", "a lighthouse"]
    assert "bob&#x27;s secret" not in html
    page = alice_client.get(
        reverse("generate"), {"model": FAST, "prompt_from": old.public_id}
    ).content.decode()
    assert "a red fox</textarea>" in page
    assert LedgerEntry.objects.filter(kind="generation_charge").count() == 4


@pytest.mark.django_db
def test_an_image_over_the_upload_limit_is_not_kept_and_says_why(alice_client, alice, fund, settings):
    fund(alice, 50, plan="standard")
    settings.ARTIO_MAX_UPLOAD_BYTES = 100
    image = SimpleUploadedFile("big.png", png_bytes(), content_type="image/png")
    html = alice_client.post(
        reverse("generate"), {"model": EDIT, "prompt": "", "image_urls": [image]}
    ).content.decode()
    assert "big.png is larger than 0 MB." in html and "__kept" not in html
