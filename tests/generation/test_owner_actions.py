"""What a user does on their own generations beyond creating them: cancel a stuck one, reuse settings."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, LedgerKind
from generation import pipeline, services
from generation.models import Generation, Status

FAST = "google/imagen4-fast"  # typical 10 s, so "stuck" after the 2-minute floor


def make(user, **data):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": "a lighthouse", **data})


def age(generation, *, seconds, submitted=True):
    """Pretend the generation was created (and sent to KIE) `seconds` ago."""
    then = timezone.now() - timedelta(seconds=seconds)
    changes = {"created_at": then}
    if submitted:
        changes.update(status=Status.RUNNING, submitted_at=then, kie_task_id="task-stuck")
    Generation.objects.filter(pk=generation.pk).update(**changes)
    generation.refresh_from_db()


def refunds(generation):
    return LedgerEntry.objects.filter(reference=generation.public_id, kind=LedgerKind.GENERATION_REFUND)


@pytest.mark.django_db
def test_a_stuck_generation_offers_cancel_and_shows_when_it_refunds_itself(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    url = reverse("generation-detail", args=[generation.public_id])
    age(generation, seconds=30)
    html = alice_client.get(url).content.decode()
    assert "Cancel and refund" not in html  # not late yet
    refund_at = timezone.localtime(generation.submitted_at + timedelta(minutes=15)).strftime("%H:%M")
    assert f"If it is not done by {refund_at} UTC" in html
    age(generation, seconds=121)
    fragment = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Cancel and refund 4 credits" in fragment
    assert "Started 2\xa0minutes ago." in fragment
    assert reverse("generation-cancel", args=[generation.public_id]) in fragment


@pytest.mark.django_db
def test_cancel_of_a_stuck_generation_refunds_it_once(alice_client, alice, fund, tasks):
    account = fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    age(generation, seconds=200)
    url = reverse("generation-cancel", args=[generation.public_id])
    response = alice_client.post(url)
    assert response.status_code == 302 and response.url == generation.get_absolute_url()
    again = alice_client.post(url, follow=True)
    generation.refresh_from_db()
    account.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "cancelled_by_user"
    assert generation.refunded_credits == 4 and account.balance == 50
    assert refunds(generation).count() == 1
    assert "already finished" in again.content.decode()
    assert alice_client.get(url).status_code == 405


@pytest.mark.django_db
def test_cancel_before_the_slow_threshold_changes_nothing(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    age(generation, seconds=60, submitted=False)
    response = alice_client.post(reverse("generation-cancel", args=[generation.public_id]), follow=True)
    generation.refresh_from_db()
    assert generation.status == Status.QUEUED and not refunds(generation).exists()
    assert "not late yet" in response.content.decode()


@pytest.mark.django_db
def test_a_queued_generation_stuck_behind_a_pause_can_be_cancelled(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    age(generation, seconds=600, submitted=False)
    html = alice_client.get(generation.get_absolute_url()).content.decode()
    assert "If it is not done by" not in html  # no deadline runs before KIE has it
    services.generation_cancel_by_owner(generation=generation)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and refunds(generation).count() == 1
    assert pipeline.generations_dispatch(max_seconds=1).submitted == []


@pytest.mark.django_db
def test_a_succeeded_generation_is_never_cancelled(alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    generation = make(alice)
    age(generation, seconds=600)
    Generation.objects.filter(pk=generation.pk).update(status=Status.SUCCEEDED)
    with pytest.raises(services.NotCancellable):
        services.generation_cancel_by_owner(generation=generation)
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED and not refunds(generation).exists()


@pytest.mark.django_db
def test_placeholders_take_the_requested_shape_while_running(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    wide = make(alice, num_images=2, aspect_ratio="16:9")
    html = alice_client.get(wide.get_absolute_url()).content.decode()
    # artio.js applies it (the CSP refuses style attributes); test_browser.py measures the shape
    assert html.count('class="gen-placeholder" data-aspect-ratio="16 / 9"') == 2


@pytest.mark.django_db
def test_the_form_starts_from_the_last_settings_used_on_that_model(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    make(alice, num_images=3, aspect_ratio="9:16")
    html = alice_client.get(reverse("generate"), {"model": FAST}).content.decode()
    assert "Generate 3 images · 12 credits" in html
    assert re.search(r'value="9:16"[^>]*checked', html)
    assert "Options as in your last" in html
    assert "a lighthouse</textarea>" not in html  # the prompt is new every time
    # "Start from the defaults" and a prefilled link both win over the memory
    defaults = alice_client.get(reverse("generate"), {"model": FAST, "defaults": "1"}).content.decode()
    assert "Generate 1 image · 4 credits" in defaults and "Options as in your last" not in defaults
    prefilled = alice_client.get(reverse("generate"), {"model": FAST, "num_images": "2"}).content.decode()
    assert "Generate 2 images · 8 credits" in prefilled


@pytest.mark.django_db
def test_another_users_settings_are_not_remembered(alice_client, alice, bob, fund, tasks):
    fund(alice, 50)
    fund(bob, 50)
    tasks.run = False
    services.generation_create(user=bob, model_slug=FAST, data={"prompt": "x", "num_images": 4})
    html = alice_client.get(reverse("generate"), {"model": FAST}).content.decode()
    assert "Generate 1 image · 4 credits" in html and "Options as in your last" not in html
