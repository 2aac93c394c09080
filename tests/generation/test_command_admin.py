"""`manage.py generate` for staff and scripts, and the generation admin."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from generation import pipeline, services
from generation.models import Generation, Status

FAST = "google/imagen4-fast"


@pytest.mark.django_db
def test_generate_command_waits_and_prints_the_outcome(alice, fund, kie, tasks, capsys, media, settings):
    fund(alice, 50)
    tasks.run = False  # no worker: --wait drives the pipeline itself
    call_command(
        "generate", "alice@example.com", FAST, "--input", '{"prompt": "a fox", "num_images": 2}', "--wait"
    )
    out = capsys.readouterr().out.splitlines()
    generation = Generation.objects.get()
    assert out[0] == generation.public_id
    assert "status: succeeded" in out and "credits charged: 8" in out
    images = [line for line in out if line.startswith("image: ")]
    # A link that works from any host (local storage's /media/ URL here, a signed URL with S3).
    link = f"image: {settings.ARTIO_PUBLIC_URL}/media/generations/"
    assert len(images) == 2 and all(line.startswith(link) for line in images)


@pytest.mark.django_db
def test_generate_command_exits_1_on_a_failed_generation(alice, fund, kie, tasks, capsys):
    fund(alice, 50)
    tasks.run = False
    with pytest.raises(CommandError) as excinfo:
        call_command("generate", "alice@example.com", FAST, "--input", '{"prompt": "sandbox:fail"}', "--wait")
    assert excinfo.value.returncode == 1
    out = capsys.readouterr().out
    assert "status: failed" in out and "credits refunded: 4" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--input", '{"prompt": "x", "num_images": 5}'], "num_images"),
        (["--input", "not json"], "not JSON"),
        (["--input", '{"prompt": "x"}', "--wait"], None),
    ],
)
def test_generate_command_refuses_bad_input_without_charging(alice, fund, tasks, args, words, kie):
    account = fund(alice, 2)  # too little for even one image, so the last case fails on credits
    with pytest.raises(CommandError) as excinfo:
        call_command("generate", "alice@example.com", FAST, *args)
    assert excinfo.value.returncode == 1
    assert words is None or words in str(excinfo.value)
    account.refresh_from_db()
    assert account.balance == 2 and not Generation.objects.exists()


@pytest.mark.django_db
def test_admin_index_shows_kie_credit_and_the_paused_banner(client, staff, kie):
    from django.core.cache import cache

    cache.delete("generation:kie-credit")
    client.force_login(staff)
    html = client.get(reverse("admin:index")).content.decode()
    assert "KIE account credit: <strong>1000000</strong>" in html
    pipeline.dispatch_pause(reason="KIE answered 402: Credits insufficient")
    html = client.get(reverse("admin:index")).content.decode()
    assert "Dispatch to KIE is <strong>paused</strong>" in html and "Credits insufficient" in html


@pytest.mark.django_db
def test_admin_index_shows_a_kie_error_as_such(client, staff, kie):
    from django.core.cache import cache

    cache.delete("generation:kie-credit")
    kie.fail_next(401, "Unauthorized", endpoint="credit")
    client.force_login(staff)
    html = client.get(reverse("admin:index")).content.decode()
    assert "KIE account credit: <strong>unavailable</strong>" in html and "Unauthorized" in html


@pytest.mark.django_db
def test_admin_lists_and_fail_and_refund_action_goes_through_the_service(
    client, staff, alice, fund, tasks, kie
):
    fund(alice, 50)
    tasks.run = False
    generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x"})
    client.force_login(staff)
    changelist = reverse("admin:generation_generation_changelist")
    assert generation.public_id in client.get(changelist, {"status__exact": "queued"}).content.decode()
    assert client.get(reverse("admin:generation_generation_change", args=[generation.pk])).status_code == 200
    response = client.post(changelist, {"action": "fail_and_refund", "_selected_action": [generation.pk]})
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.refunded_credits == 4


@pytest.mark.django_db
def test_admin_recheck_action_reads_kie(client, staff, alice, fund, tasks, kie):
    fund(alice, 50)
    tasks.run = False
    generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": "x"})
    pipeline.generations_dispatch(max_seconds=5)
    client.force_login(staff)
    changelist = reverse("admin:generation_generation_changelist")
    import time

    time.sleep(0.3)  # the sandbox finishes within 0.2 s
    client.post(changelist, {"action": "recheck_with_kie", "_selected_action": [generation.pk]})
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
