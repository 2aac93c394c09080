"""Delete → trash → restore or purge: gone from every view and image URL at once, gone for good later."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import LedgerEntry
from generation import pipeline, services
from generation import tasks as generation_tasks
from generation.kie import kie_client
from generation.models import Generation, GenerationImage, Status
from tests.pipeline_helpers import run_until_terminal

from .conftest import read

FAST = "google/imagen4-fast"


def create(user, **extra):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": "a fox in snow", **extra})


@pytest.fixture
def done(alice, fund, kie, tasks, django_capture_on_commit_callbacks):
    """Return a succeeded generation of alice's with two images really stored in MEDIA_ROOT."""
    fund(alice, 100)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice, num_images=2)
    generation = run_until_terminal(generation, dispatch=False)
    assert generation.status == Status.SUCCEEDED and generation.images.count() == 2
    return generation


def image_urls(generation):
    """Return every public URL of the generation's images: each file and each thumbnail."""
    urls = []
    for image in GenerationImage.objects.filter(generation=generation):
        urls += [image.file.url, image.thumbnail.url]
    return urls


def stored_paths(generation):
    root = Path(django_settings.MEDIA_ROOT)
    return [
        root / name
        for image in GenerationImage.objects.filter(generation=generation)
        for name in (image.file.name, image.thumbnail.name)
    ]


def ledger(generation):
    return list(LedgerEntry.objects.filter(reference=generation.public_id).order_by("id").values())


def delete(client, generation):
    return client.post(reverse("generation-delete", args=[generation.public_id]))


@pytest.mark.django_db
def test_delete_takes_it_out_of_every_view_and_its_image_urls_at_once(alice_client, client, done):
    # given: its images are served to anyone with the link
    urls = image_urls(done)
    assert len(urls) == 4
    anonymous = client.__class__()
    assert all(anonymous.get(url).status_code == 200 for url in urls)
    detail = reverse("generation-detail", args=[done.public_id])
    # when
    response = delete(alice_client, done)
    # then: the gallery offers Undo, and nothing of it is shown or served any more
    assert response.status_code == 302 and response.url == reverse("generation-list")
    gallery = alice_client.get(response.url).content.decode()
    assert reverse("generation-restore", args=[done.public_id]) in gallery
    assert detail + '"' not in gallery
    assert alice_client.get(detail).status_code == 404
    assert [anonymous.get(url).status_code for url in urls] == [404] * 4
    assert [alice_client.get(url).status_code for url in urls] == [404] * 4
    # the files are still there (restorable) until the purge
    assert all(path.exists() for path in stored_paths(done))
    # and the trash lists it, with its thumbnail for its owner only
    trash = alice_client.get(reverse("generation-trash")).content.decode()
    assert reverse("generation-restore", args=[done.public_id]) in trash
    assert reverse("generation-forever", args=[done.public_id]) in trash
    preview = alice_client.get(reverse("generation-trash-preview", args=[done.public_id]))
    assert preview.status_code == 200 and preview["Content-Type"] == "image/webp"
    assert anonymous.get(reverse("generation-trash-preview", args=[done.public_id])).status_code == 302


@pytest.mark.django_db
def test_undo_restores_it_with_working_images(alice_client, client, done):
    urls = image_urls(done)
    gallery = reverse("generation-list") + "?status=succeeded"
    alice_client.post(reverse("generation-delete", args=[done.public_id]), {"next": gallery})
    assert client.get(urls[0]).status_code == 404
    # when: "Undo" from the flash message
    response = alice_client.post(reverse("generation-restore", args=[done.public_id]), {"next": gallery})
    # then: back where the user was, with the card, the page and the images back
    assert response.status_code == 302 and response.url == gallery
    assert reverse("generation-detail", args=[done.public_id]) in alice_client.get(gallery).content.decode()
    assert alice_client.get(reverse("generation-detail", args=[done.public_id])).status_code == 200
    assert all(client.get(url).status_code == 200 for url in urls)
    done.refresh_from_db()
    assert done.deleted_at is None


@pytest.mark.django_db
def test_next_only_leads_back_to_our_own_pages(alice_client, done):
    response = alice_client.post(
        reverse("generation-delete", args=[done.public_id]), {"next": "https://evil.example/generations/"}
    )
    assert response.url == reverse("generation-list")
    response = alice_client.post(
        reverse("generation-restore", args=[done.public_id]), {"next": "//evil.example/"}
    )
    assert response.url == reverse("generation-list")


@pytest.mark.django_db
def test_purge_after_the_window_deletes_files_and_rows_but_keeps_ledger_and_row(
    alice_client, client, alice, done, settings, capsys
):
    # given: deleted longer ago than the window; and one deleted just now
    settings.ARTIO_TRASH_DAYS = 7
    urls, paths, before = image_urls(done), stored_paths(done), ledger(done)
    delete(alice_client, done)
    Generation.objects.filter(pk=done.pk).update(deleted_at=timezone.now() - timedelta(days=7, minutes=1))
    recent = create(alice)
    services.generation_cancel(generation_id=recent.pk)  # finished (failed and refunded)
    delete(alice_client, recent)
    # when: the hourly sweep runs
    assert generation_tasks.generations_purge() == 1
    # then: files gone from storage, image rows gone, the row kept and marked, the ledger untouched
    assert not any(path.exists() for path in paths)
    assert not GenerationImage.objects.filter(generation=done).exists()
    done.refresh_from_db()
    assert done.purged_at is not None and done.input["prompt"] == "a fox in snow"
    assert ledger(done) == before
    call_command("audit_ledger")
    assert "passed" in capsys.readouterr().out
    assert all(client.get(url).status_code == 404 for url in urls)
    # it has left the trash and cannot come back; the recent one stays
    trash = alice_client.get(reverse("generation-trash")).content.decode()
    assert done.public_id not in trash and recent.public_id in trash
    assert alice_client.post(reverse("generation-restore", args=[done.public_id])).status_code == 404
    recent.refresh_from_db()
    assert recent.deleted_at and recent.purged_at is None
    # a second sweep has nothing left to do
    assert generation_tasks.generations_purge() == 0


@pytest.mark.django_db
def test_an_unfinished_generation_is_purged_only_once_finished(alice_client, alice, fund, tasks, settings):
    # given: a queued generation deleted long ago (it stays in the pipeline)
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    delete(alice_client, generation)
    Generation.objects.filter(pk=generation.pk).update(deleted_at=timezone.now() - timedelta(days=30))
    # then: neither the sweep nor "delete forever" purges it while it may still produce images
    assert services.generations_purge() == 0
    response = alice_client.post(reverse("generation-forever", args=[generation.public_id]), follow=True)
    assert "still generating" in response.content.decode()
    trash = alice_client.get(reverse("generation-trash")).content.decode()
    assert "Still generating" in trash
    generation.refresh_from_db()
    assert generation.purged_at is None and generation.status == Status.QUEUED
    # when it ends (here: failed and refunded), the next sweep purges it
    services.generation_cancel(generation_id=generation.pk)
    assert services.generations_purge() == 1


@pytest.mark.django_db
def test_delete_forever_purges_at_once(alice_client, client, done):
    urls, paths, before = image_urls(done), stored_paths(done), ledger(done)
    delete(alice_client, done)
    response = alice_client.post(reverse("generation-forever", args=[done.public_id]))
    assert response.status_code == 302 and response.url == reverse("generation-trash")
    assert not any(path.exists() for path in paths)
    assert not GenerationImage.objects.filter(generation=done).exists()
    assert all(client.get(url).status_code == 404 for url in urls)
    done.refresh_from_db()
    assert done.purged_at is not None and ledger(done) == before
    # a second click finds nothing in the trash
    assert alice_client.post(reverse("generation-forever", args=[done.public_id])).status_code == 404


@pytest.mark.django_db
def test_delete_forever_needs_the_trash_first(alice_client, done):
    assert alice_client.post(reverse("generation-forever", args=[done.public_id])).status_code == 404
    done.refresh_from_db()
    assert done.purged_at is None and done.images.count() == 2


@pytest.mark.django_db
def test_another_users_id_is_404_for_every_trash_action(client, bob, alice_client, done):
    delete(alice_client, done)
    client.force_login(bob)
    for name in ("generation-delete", "generation-restore", "generation-forever"):
        assert client.post(reverse(name, args=[done.public_id])).status_code == 404, name
    assert client.get(reverse("generation-trash-preview", args=[done.public_id])).status_code == 404
    assert done.public_id not in client.get(reverse("generation-trash")).content.decode()
    done.refresh_from_db()
    assert done.deleted_at is not None and done.purged_at is None and done.images.count() == 2


@pytest.mark.django_db
def test_trash_actions_are_post_only(alice_client, done):
    for name in ("generation-delete", "generation-restore", "generation-forever"):
        assert alice_client.get(reverse(name, args=[done.public_id])).status_code == 405, name
    done.refresh_from_db()
    assert done.deleted_at is None


@pytest.mark.django_db
def test_media_serves_nothing_but_stored_result_images(client, settings, done):
    # A file that is no GenerationImage is not served, even though it sits under MEDIA_ROOT.
    stray = Path(settings.MEDIA_ROOT) / "generations" / "stray.png"
    stray.write_bytes(Path(stored_paths(done)[0]).read_bytes())
    assert client.get("/media/generations/stray.png").status_code == 404
    assert client.get("/media/").status_code == 404
    served = client.get(image_urls(done)[0])
    assert served.status_code == 200 and "no-cache" in served["Cache-Control"]


@pytest.mark.django_db
def test_trash_page_costs_the_same_queries_for_many_items(
    alice_client, alice, fund, tasks, django_assert_max_num_queries
):
    fund(alice, 500)
    tasks.run = False

    def trash(count):
        for _ in range(count):
            generation = create(alice)
            GenerationImage.objects.create(
                generation=generation,
                file=f"generations/x/{generation.public_id}.png",
                thumbnail=f"generations/x/{generation.public_id}.thumb.webp",
                content_type="image/png",
            )
            services.generation_trash(generation=generation)

    trash(2)
    with django_assert_max_num_queries(8):
        assert alice_client.get(reverse("generation-trash")).status_code == 200
    trash(20)
    with django_assert_max_num_queries(8):
        html = alice_client.get(reverse("generation-trash")).content.decode()
    assert html.count("Restore<span") == 22


@pytest.mark.django_db
def test_a_late_result_after_the_purge_stores_nothing(
    alice_client, alice, fund, kie, tasks, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # given: a generation that hit the deadline (failed, refunded, no images), deleted and purged
    kie.set_latency(1.0)
    kie.callbacks_enabled = False
    monkeypatch.setattr(pipeline, "POLL_AFTER_SECONDS", 0)
    fund(alice, 20)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create(alice)
    settings.KIE_DEADLINE_SECONDS = 0
    pipeline.generations_poll(max_seconds=5)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED and generation.error_code == "deadline"
    delete(alice_client, generation)
    alice_client.post(reverse("generation-forever", args=[generation.public_id]))
    generation.refresh_from_db()
    assert generation.purged_at is not None
    # when: KIE finishes after all, and the poller, a callback and a racing worker all see it
    ends = time.monotonic() + 10
    while kie.tasks[generation.kie_task_id].due > time.time() and time.monotonic() < ends:
        time.sleep(0.05)
    Generation.objects.filter(pk=generation.pk).update(last_checked_at=None)
    pipeline.generations_poll(max_seconds=5)
    pipeline.generation_refresh(generation_id=generation.pk)
    record = kie_client().record_info(task_id=generation.kie_task_id)
    assert record.succeeded
    stored = pipeline._images_store(generation=generation, urls=record.result_urls)
    # then: no image row and no file anywhere in storage
    assert stored is False
    assert not GenerationImage.objects.filter(generation=generation).exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.django_db(transaction=True)
def test_migration_carries_hidden_rows_over_as_deleted_and_schedules_the_purge(alice, fund, tasks):
    # given: the schema before the trash, with one hidden and one visible generation
    fund(alice, 50)
    tasks.run = False
    kept, hidden = create(alice), create(alice)
    executor = MigrationExecutor(connection)
    executor.migrate([("generation", "0006_webhook_delivery_from_artio")])
    executor.loader.build_graph()
    old = executor.loader.project_state([("generation", "0006_webhook_delivery_from_artio")]).apps
    old.get_model("generation", "Generation").objects.filter(pk=hidden.pk).update(hidden=True)
    # when
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then
    hidden.refresh_from_db()
    kept.refresh_from_db()
    assert hidden.deleted_at is not None and kept.deleted_at is None
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="generation-trash-purge")
    assert schedule.func == "generation.tasks.generations_purge" and schedule.schedule_type == Schedule.HOURLY


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_delete_undo_and_delete_forever_in_a_browser(
    request, viewport, client, alice, fund, kie, tasks, live_server, tmp_path
):
    from tests.fixtures_browser import sign_in

    tab = request.getfixturevalue(viewport)
    fund(alice, 100)
    made = []
    for prompt in ("a paper boat on a lake at dawn, watercolour", "a red fox in deep snow", "a lighthouse"):
        generation = services.generation_create(user=alice, model_slug=FAST, data={"prompt": prompt})
        made.append(run_until_terminal(generation, dispatch=False))
    sign_in(tab, client, alice, live_server)
    # given: the library; when: delete the newest from its tile's menu
    tab.goto(f"{live_server.url}/generations/")

    def delete_first():
        tile = tab.locator(".lib-tile").first
        tile.hover()
        tile.locator("summary").click()
        tile.get_by_role("button", name="Delete").click()

    delete_first()
    # then: the toast offers Undo, and Undo puts it back
    tab.wait_for_selector("text=Moved to Trash")
    expect(tab.locator(".lib-tile")).to_have_count(2)
    tab.screenshot(path=str(tmp_path / f"undo-{viewport}.png"), full_page=True)
    tab.get_by_role("button", name="Undo").click()
    tab.wait_for_selector("text=Restored to My images")
    expect(tab.locator(".lib-tile")).to_have_count(3)
    # when: two go to the trash (each tile leaves the grid at once)
    for left in (2, 1):
        delete_first()
        expect(tab.locator(".lib-tile")).to_have_count(left)
    tab.get_by_role("link", name="Trash").click()
    tab.wait_for_url("**/generations/trash/")
    expect(tab.locator(".gen-card")).to_have_count(2)
    # thumbnails load through the owner-only preview
    thumbnail = tab.locator(".gen-card img").first
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") > 0
    tab.screenshot(path=str(tmp_path / f"trash-{viewport}.png"), full_page=True)
    # "Delete forever" asks once more
    card = tab.locator(".gen-card").first
    card.locator("summary").click()
    tab.screenshot(path=str(tmp_path / f"trash-confirm-{viewport}.png"), full_page=True)
    card.get_by_role("button", name="Yes, delete for good").click()
    tab.wait_for_selector("text=Deleted for good")
    expect(tab.locator(".gen-card")).to_have_count(1)
    assert read(lambda: Generation.objects.filter(purged_at__isnull=False).count()) == 1
