"""Bad input gets a clear error and costs nothing; forged callbacks change nothing."""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from artio.errors import ArtioError
from artio.models import PartnerSettings
from artio.services import partner_settings_for_user
from billing.models import LedgerEntry
from generation import pipeline, services
from generation.models import Generation, Status

FAST = "google/imagen4-fast"
EDIT = "google/nano-banana-edit"


def png_bytes(size=(64, 64)):
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "PNG")
    return out.getvalue()


def nothing_charged(account):
    account.refresh_from_db()
    return (
        account.balance == 50
        and not Generation.objects.exists()
        and not LedgerEntry.objects.filter(kind="generation_charge").exists()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"prompt": "x" * 5001}, "prompt", "At most 5000 characters"),
        ({"prompt": "a cat", "aspect_ratio": "7:3"}, "aspect_ratio", "not one of the choices"),
        ({"prompt": "a cat", "num_images": 5}, "num_images", "not one of the choices"),
        ({}, "prompt", "required"),
        ({"prompt": "a cat", "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_input_is_refused_with_field_errors_and_no_charge(alice, fund, tasks, data, field, words):
    account = fund(alice, 50)
    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug=FAST, data=data)
    error = excinfo.value
    assert error.code == "invalid_input" and error.http_status == 400
    assert any(words in message for message in error.details[field])
    assert nothing_charged(account)
    assert tasks.calls == []


@pytest.mark.django_db
def test_unknown_or_inactive_model_is_not_found(alice, fund):
    fund(alice, 50)
    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug="nope/nope", data={"prompt": "x"})
    assert excinfo.value.code == "not_found" and excinfo.value.http_status == 404


@pytest.mark.django_db
def test_model_above_the_plan_needs_an_upgrade(alice, fund):
    account = fund(alice, 50)
    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug="google/imagen4-ultra", data={"prompt": "x"})
    assert excinfo.value.code == "plan_required" and excinfo.value.http_status == 403
    assert nothing_charged(account)


@pytest.mark.django_db
def test_too_few_credits_says_how_many(alice, fund):
    fund(alice, 7)
    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x", "num_images": 2})
    assert excinfo.value.code == "insufficient_credits" and excinfo.value.http_status == 402
    assert excinfo.value.details == {"required": 8, "balance": 7}
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_frozen_account_cannot_generate(alice, fund):
    account = fund(alice, 50)
    account.frozen = True
    account.save(update_fields=["frozen"])
    with pytest.raises(ArtioError) as excinfo:
        services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x"})
    assert excinfo.value.code == "account_frozen" and excinfo.value.http_status == 403


@pytest.mark.django_db
def test_quote_matches_the_charge_and_applies_the_discount(alice, fund, tasks):
    fund(alice, 50)
    partner_settings_for_user(user=alice)
    PartnerSettings.objects.filter(user=alice).update(discount_percent=10)
    quote = services.generation_quote(user=alice, model_slug=FAST, data={"prompt": "x", "num_images": 3})
    assert (quote.base_credits, quote.credits) == (12, 11)  # 10 % off, rounded up
    tasks.run = False
    generation = services.generation_create(
        user=alice, model_slug=FAST, data={"prompt": "x", "num_images": 3}
    )
    assert generation.credits_charged == 11 and generation.discount_percent == 10
    assert generation.unit_credits == 4 and generation.images_requested == 3


@pytest.mark.django_db
def test_non_image_upload_is_refused_on_the_form_with_no_charge(client, alice, fund, kie, tasks):
    account = fund(alice, 50, plan="standard")
    client.force_login(alice)
    fake = SimpleUploadedFile("cat.png", b"#!/bin/sh\necho not an image\n", content_type="image/png")
    response = client.post(
        reverse("generate"), {"model": EDIT, "prompt": "make it blue", "image_urls": [fake]}
    )
    assert response.status_code == 400
    assert "not a PNG, JPEG or WebP image" in response.content.decode()
    assert nothing_charged(account)
    assert kie.uploads == {}


@pytest.mark.django_db
def test_image_upload_goes_to_kie_and_its_url_into_the_input(client, alice, fund, kie, tasks):
    fund(alice, 50, plan="standard")
    tasks.run = False
    client.force_login(alice)
    image = SimpleUploadedFile("cat.png", png_bytes(), content_type="image/png")
    response = client.post(
        reverse("generate"), {"model": EDIT, "prompt": "make it blue", "image_urls": [image]}
    )
    generation = Generation.objects.get()
    assert response.status_code == 302 and response.url == generation.get_absolute_url()
    assert len(kie.uploads) == 1
    assert generation.input["image_urls"][0].startswith(kie.base_url + "/uploads/")


@pytest.mark.django_db
def test_too_many_uploads_are_refused(client, alice, fund, kie, tasks):
    account = fund(alice, 50, plan="standard")
    client.force_login(alice)
    files = [SimpleUploadedFile(f"{i}.png", png_bytes(), content_type="image/png") for i in range(11)]
    response = client.post(reverse("generate"), {"model": EDIT, "prompt": "blue", "image_urls": files})
    assert response.status_code == 400
    assert "At most 10" in response.content.decode()
    assert nothing_charged(account)


@pytest.fixture
def submitted(alice, fund, kie, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x"})
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.SUBMITTED
    tasks.calls.clear()
    return generation


@pytest.mark.django_db
def test_callback_with_a_wrong_token_is_404_and_changes_nothing(client, submitted, tasks):
    body = {"code": 200, "data": {"taskId": submitted.kie_task_id, "state": "success"}}
    response = client.post("/generation/kie/callback/not-the-token/", body, content_type="application/json")
    assert response.status_code == 404
    # Only a check with KIE of the task it names (kept for reconciliation), no re-read of ours.
    assert [func for func, _args in tasks.calls] == ["generation.tasks.kie_task_check"]
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED


@pytest.mark.django_db
def test_callback_for_another_task_is_refused(client, submitted, tasks):
    url = reverse("generation-kie-callback", args=[submitted.callback_token])
    response = client.post(url, {"data": {"taskId": "someone-else"}}, content_type="application/json")
    assert response.status_code == 400
    # Never stored; only checked with KIE, which may bill it (ops' reconciliation).
    assert tasks.calls == [("generation.tasks.kie_task_check", ("someone-else", submitted.pk))]


@pytest.mark.django_db
def test_callback_signature_is_checked_when_a_key_is_set(client, submitted, tasks, settings):
    from generation.kie import callback_signature

    settings.KIE_WEBHOOK_HMAC_KEY = "hmac-secret"
    url = reverse("generation-kie-callback", args=[submitted.callback_token])
    body = {"code": 200, "data": {"taskId": submitted.kie_task_id}}
    stamp = str(int(time.time()))
    wrong = callback_signature(task_id=submitted.kie_task_id, timestamp=stamp, key="other-key")
    response = client.post(
        url,
        body,
        content_type="application/json",
        HTTP_X_WEBHOOK_TIMESTAMP=stamp,
        HTTP_X_WEBHOOK_SIGNATURE=wrong,
    )
    assert response.status_code == 403
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 403
    assert tasks.calls == []
    right = callback_signature(task_id=submitted.kie_task_id, timestamp=stamp, key="hmac-secret")
    response = client.post(
        url,
        body,
        content_type="application/json",
        HTTP_X_WEBHOOK_TIMESTAMP=stamp,
        HTTP_X_WEBHOOK_SIGNATURE=right,
    )
    assert response.status_code == 200
    assert tasks.named("generation.tasks.generation_refresh") == [(submitted.pk,)]


@pytest.mark.django_db
def test_callback_body_is_never_trusted(client, alice, fund, kie, tasks):
    """A callback claiming success only triggers a re-read; KIE says the task is still running."""
    fund(alice, 50)
    kie.set_latency(60)
    tasks.run = False
    generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x"})
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    tasks.run = True
    url = reverse("generation-kie-callback", args=[generation.callback_token])
    result = '{"resultUrls": ["https://evil.example/x.png"]}'
    body = {"code": 200, "data": {"taskId": generation.kie_task_id, "state": "success", "resultJson": result}}
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 200
    generation.refresh_from_db()
    assert generation.status == Status.RUNNING
    assert generation.images.count() == 0
