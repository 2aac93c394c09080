""" "Export all my images": queued through the task seam, a zip in storage, an e-mailed owner-only link."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from generation import library, services
from generation.models import Export, ExportStatus

from .library_helpers import library_seed

pytestmark = pytest.mark.django_db
LIBRARY = reverse("generation-list")


def ask(client, capture):
    with capture(execute=True):
        return client.post(reverse("library-export"))


def test_export_builds_a_zip_in_storage_and_mails_an_owner_only_link(
    alice_client, client, alice, bob, tasks, mailoutbox, django_capture_on_commit_callbacks
):
    rows = library_seed(alice, 3, prompt="a red fox {i}", files=True)
    services.generation_trash(generation=rows[0])  # the trash is not exported
    library_seed(bob, 1, files=True)
    response = ask(alice_client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    # queued through the project's task seam, and run (the stand-in runs it at once)
    assert len(tasks.named(library.EXPORT_TASK)) == 1
    export = Export.objects.get(owner=alice)
    assert export.status == ExportStatus.READY and export.images == 2
    assert export.expires_at - export.finished_at == timedelta(days=7)
    # the zip is in storage, with the images and their prompts
    with default_storage.open(export.file) as handle, zipfile.ZipFile(handle) as archive:
        names = sorted(archive.namelist())
        manifest = list(csv.DictReader(io.TextIOWrapper(archive.open("images.csv"), "utf-8")))
        first = archive.read(next(n for n in names if n.endswith("a-red-fox-1-1.png")))
    assert len(names) == 3 and "images.csv" in names
    assert sorted(row["prompt"] for row in manifest) == ["a red fox 1", "a red fox 2"]
    with default_storage.open(rows[1].images.get().file.name) as stored:
        assert first == stored.read()
    # the owner is mailed the link, and the page shows it too
    link = reverse("library-export-download", args=[export.public_id])
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [alice.email] and link in mailoutbox[0].body
    assert link in alice_client.get(LIBRARY).content.decode()
    download = alice_client.get(link)
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content)[:2] == b"PK"
    # another user's export is a 404, and so is anyone signed out (sent to sign in)
    client.force_login(bob)
    assert client.get(link).status_code == 404
    client.logout()
    assert client.get(link).status_code == 302


def test_the_link_expires_after_seven_days_and_the_sweep_deletes_the_zip(
    alice_client, alice, tasks, mailoutbox, django_capture_on_commit_callbacks
):
    library_seed(alice, 1, files=True)
    ask(alice_client, django_capture_on_commit_callbacks)
    export = Export.objects.get(owner=alice)
    link = reverse("library-export-download", args=[export.public_id])
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alice_client.get(link).status_code == 404
    assert "expired" in alice_client.get(LIBRARY).content.decode()
    assert library.exports_expired_delete() == 1
    assert not default_storage.exists(export.file)


def test_one_export_at_a_time(alice_client, alice, tasks, django_capture_on_commit_callbacks):
    tasks.run = False
    ask(alice_client, django_capture_on_commit_callbacks)
    response = alice_client.post(reverse("library-export"), follow=True)
    assert "already being built" in response.content.decode()
    assert Export.objects.filter(owner=alice).count() == 1
    assert "disabled>Export all my images" in response.content.decode()
    # a build whose worker died long ago does not block a new one for ever
    Export.objects.filter(owner=alice).update(created_at=timezone.now() - timedelta(hours=3))
    ask(alice_client, django_capture_on_commit_callbacks)
    assert list(Export.objects.filter(owner=alice).values_list("status", flat=True)) == ["queued", "failed"]


def test_a_failed_build_is_recorded_shown_and_mailed(
    alice_client, alice, tasks, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    library_seed(alice, 2, files=True)

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    with monkeypatch.context() as patched:
        patched.setattr(default_storage, "save", broken)
        ask(alice_client, django_capture_on_commit_callbacks)
    export = Export.objects.get(owner=alice)
    assert export.status == ExportStatus.FAILED and "storage" in export.error
    assert "did not finish" in mailoutbox[0].subject
    assert "did not finish" in alice_client.get(LIBRARY).content.decode()
    # and a new one may be asked for at once
    ask(alice_client, django_capture_on_commit_callbacks)
    assert Export.objects.filter(owner=alice, status=ExportStatus.READY).count() == 1


def test_a_duplicate_task_delivery_builds_nothing_twice(
    alice, tasks, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        export = library.export_request(user=alice)
    assert library.export_build(export_id=export.pk) is None
    assert len(mailoutbox) == 1
