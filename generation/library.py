"""The owner's library: its filters and keyset pages, favourites, collections and the zip export.

Every read and write here is scoped to the owner: another user's generation, collection or export
is a 404, never a 403 (which would confirm that it exists).
"""

import csv
import io
import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath
from urllib.parse import urlencode

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from artio.errors import ArtioError
from catalog.models import AIModel

from . import pipeline
from .models import EXPORT_ACTIVE, Collection, Export, ExportStatus, Generation, GenerationImage, Status
from .selectors import GalleryPage, generations_page_for_owner

logger = logging.getLogger(__name__)

PAGE_SIZE = 24
SEARCH_MAX = 200
EXPORT_DAYS = 7
# A build that has said "running" this long died with its worker: a new export may start.
EXPORT_STALE = timedelta(hours=2)
EXPORT_TASK = "generation.tasks.library_export_build"
# The zip is written to a temporary file that stays in memory up to this size, then spills to disk:
# the export never holds every image in memory, whatever the library's size.
EXPORT_SPOOL_BYTES = 8 * 1024 * 1024


# --- Filters and pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryFilter:
    """What the library is showing, parsed from the query string (bad values are simply dropped)."""

    q: str = ""
    model: str = ""
    status: str = ""
    since: date | None = None
    until: date | None = None
    favourites: bool = False

    @classmethod
    def from_query(cls, query):
        return cls(
            q=" ".join(query.get("q", "").split())[:SEARCH_MAX],
            model=query.get("model", "")[:100],
            status=query.get("status", "") if query.get("status", "") in Status.values else "",
            since=_date(query.get("from", "")),
            until=_date(query.get("to", "")),
            favourites=query.get("favourites", "") in ("1", "on", "true"),
        )

    @property
    def active(self):
        return bool(self.q or self.model or self.status or self.since or self.until or self.favourites)

    def query(self):
        """Return these filters as a query string (no cursor), for links that keep them."""
        pairs = [
            ("q", self.q),
            ("model", self.model),
            ("status", self.status),
            ("from", self.since.isoformat() if self.since else ""),
            ("to", self.until.isoformat() if self.until else ""),
            ("favourites", "1" if self.favourites else ""),
        ]
        return urlencode([(k, v) for k, v in pairs if v])

    def apply(self, qs):
        if self.q:
            # Each word must appear in the prompt (case-insensitive), in any order.
            for word in self.q.split()[:8]:
                qs = qs.filter(input__prompt__icontains=word)
        if self.model:
            qs = qs.filter(model__slug=self.model)
        if self.status:
            qs = qs.filter(status=self.status)
        if self.since:
            qs = qs.filter(created_at__gte=_day_start(self.since))
        if self.until:
            qs = qs.filter(created_at__lt=_day_start(self.until + timedelta(days=1)))
        if self.favourites:
            qs = qs.filter(is_favourite=True)
        return qs


def _date(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def library_page(*, user, filters, before=None, collection=None, size=PAGE_SIZE):
    """Return a GalleryPage of the owner's visible generations matching `filters`, newest first.

    Keyset on (created_at, id) like the gallery: the page at the 10,000th image costs what the
    first does. Images and model come in a fixed number of queries, whatever the page holds.
    """

    def scope(qs):
        # The models come by a second, small query rather than a join: with a join, a planner whose
        # statistics are stale (a library that has just grown by thousands) may hash every one of the
        # owner's rows and sort them for a page of 24; alone, the table is read down its gallery index.
        qs = filters.apply(qs).select_related(None).prefetch_related("model")
        return qs.filter(collections=collection) if collection is not None else qs

    page = generations_page_for_owner(user=user, before=before, size=size, scope=scope)
    return GalleryPage(page.items, newer=None, older=page.older)


def library_models(*, user):
    """Return the models for the filter menu: every active model (one query, no prices)."""
    return list(AIModel.objects.filter(is_active=True).only("slug", "name").order_by("sort_order", "slug"))


# --- Favourites ---------------------------------------------------------------------------------


def _owned(user, public_id):
    generation = Generation.objects.filter(owner=user, public_id=public_id, deleted_at__isnull=True).first()
    if generation is None:
        raise Http404("No such generation.")
    return generation


def favourite_set(*, user, public_id, on):
    """Heart (or un-heart) the owner's generation; return it."""
    generation = _owned(user, public_id)
    Generation.objects.filter(pk=generation.pk).update(is_favourite=on)
    generation.is_favourite = on
    return generation


# --- Collections --------------------------------------------------------------------------------


class CollectionError(ArtioError):
    def __init__(self, message):
        super().__init__(message, code="invalid_collection", http_status=400)


def collections_for_owner(*, user):
    return list(Collection.objects.filter(owner=user).order_by("name", "id"))


def collection_get(*, user, pk):
    collection = Collection.objects.filter(owner=user, pk=pk).first()
    if collection is None:
        raise Http404("No such collection.")
    return collection


def _name_clean(name):
    name = " ".join((name or "").split())
    if not name:
        raise CollectionError("Give the collection a name.")
    if len(name) > 80:
        raise CollectionError("A collection's name is at most 80 characters.")
    return name


def collection_create(*, user, name):
    name = _name_clean(name)
    try:
        with transaction.atomic():
            return Collection.objects.create(owner=user, name=name)
    except IntegrityError:
        raise CollectionError(f"You already have a collection called “{name}”.") from None


def collection_rename(*, collection, name):
    name = _name_clean(name)
    if Collection.objects.filter(owner=collection.owner_id, name=name).exclude(pk=collection.pk).exists():
        raise CollectionError(f"You already have a collection called “{name}”.")
    Collection.objects.filter(pk=collection.pk).update(name=name)
    collection.name = name
    return collection


def collection_delete(*, collection):
    """Delete the collection; its images stay in the library."""
    collection.delete()


def collection_add(*, user, collection, public_id):
    collection.generations.add(_owned(user, public_id))


def collection_remove(*, user, collection, public_id):
    generation = Generation.objects.filter(owner=user, public_id=public_id).first()
    if generation is None:
        raise Http404("No such generation.")
    collection.generations.remove(generation)


# --- Export -------------------------------------------------------------------------------------


class ExportBusy(ArtioError):
    def __init__(self):
        super().__init__(
            "An export is already being built; you will get an e-mail when it is ready.",
            code="export_busy",
            http_status=409,
        )


def export_latest(*, user):
    return Export.objects.filter(owner=user).order_by("-created_at", "-id").first()


def export_get(*, user, public_id):
    export = Export.objects.filter(owner=user, public_id=public_id).first()
    if export is None:
        raise Http404("No such export.")
    return export


def export_request(*, user):
    """Queue a zip of every image the owner has (not the trash); one export at a time per owner."""
    stale = timezone.now() - EXPORT_STALE
    Export.objects.filter(owner=user, status__in=EXPORT_ACTIVE, created_at__lt=stale).update(
        status=ExportStatus.FAILED, error="The export stopped before it finished.", finished_at=timezone.now()
    )
    try:
        with transaction.atomic():
            export = Export.objects.create(owner=user)
            transaction.on_commit(lambda: pipeline.task_enqueue(EXPORT_TASK, export.pk))
    except IntegrityError:
        raise ExportBusy() from None
    return export


def export_build(*, export_id):
    """Build the zip for export `export_id` in storage, then e-mail its owner the link.

    A failure is recorded on the export (the page shows it) and e-mailed, never lost. Return the
    export, or None if it was not queued (a duplicate delivery of the task).
    """
    claimed = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    export = Export.objects.select_related("owner").get(pk=export_id)
    try:
        name, size, count = _zip_write(export)
    except Exception as exc:
        logger.exception("export %s failed", export.public_id)
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, error=_reason(exc), finished_at=timezone.now()
        )
        export.refresh_from_db()
        _mail(export)
        return export
    now = timezone.now()
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.READY,
        file=name,
        bytes=size,
        images=count,
        finished_at=now,
        expires_at=now + timedelta(days=EXPORT_DAYS),
    )
    export.refresh_from_db()
    _mail(export)
    return export


def _reason(exc):
    if isinstance(exc, OSError):
        return "Our storage could not be read or written. Please try again."
    return "Something went wrong while building the zip. Please try again."


def _images_for(export):
    """Yield the owner's visible images, oldest first, in batches (never the whole library at once)."""
    qs = (
        GenerationImage.objects.filter(
            generation__owner_id=export.owner_id,
            generation__deleted_at__isnull=True,
            generation__created_at__lte=export.created_at,
        )
        .select_related("generation__model")
        .order_by("generation__created_at", "generation_id", "position")
    )
    return qs.iterator(chunk_size=200)


def _entry_name(image, used):
    generation = image.generation
    words = slugify(generation.prompt)[:60].strip("-") or "image"
    stamp = generation.created_at.strftime("%Y-%m-%d")
    suffix = PurePosixPath(image.file.name).suffix or ".png"
    name = f"{stamp}-{words}-{image.position + 1}{suffix}"
    n = 1
    while name in used:  # the same prompt on the same day: keep both
        n += 1
        name = f"{stamp}-{words}-{image.position + 1}-{n}{suffix}"
    used.add(name)
    return name


def _zip_write(export):
    """Write the zip through the storage API only; return (storage name, bytes, images)."""
    used, count = set(), 0
    manifest = io.StringIO()
    rows = csv.writer(manifest)
    rows.writerow(["file", "prompt", "model", "created_at", "generation", "width", "height"])
    with tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            for image in _images_for(export):
                name = _entry_name(image, used)
                try:
                    source = default_storage.open(image.file.name, "rb")
                except FileNotFoundError:
                    continue  # purged or deleted for good while we ran
                with source, archive.open(f"images/{name}", "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
                generation = image.generation
                rows.writerow(
                    [
                        f"images/{name}",
                        generation.prompt,
                        generation.model.name,
                        generation.created_at.isoformat(),
                        generation.public_id,
                        image.width,
                        image.height,
                    ]
                )
                count += 1
            archive.writestr("images.csv", manifest.getvalue())
        size = spool.tell()
        spool.seek(0)
        stamp = timezone.now().strftime("%Y-%m-%d")
        name = default_storage.save(
            f"exports/{export.public_id}/artio-images-{stamp}.zip", File(spool, name="export.zip")
        )
    return name, size, count


def export_link(export):
    return settings.ARTIO_PUBLIC_URL + reverse("library-export-download", args=[export.public_id])


def _mail(export):
    library = settings.ARTIO_PUBLIC_URL + reverse("generation-list")
    if export.status == ExportStatus.READY:
        subject = "Your Artio images are ready to download"
        body = (
            f"Your export of {export.images:,} image{'s' if export.images != 1 else ''} is ready.\n\n"
            f"Download it (signed in as you) until {export.expires_at:%d %b %Y}:\n{export_link(export)}\n\n"
            f"The zip holds the images and images.csv with each one's prompt, model and date.\n"
        )
    else:
        subject = "Your Artio export did not finish"
        body = f"We could not build your export: {export.error}\n\nYou can ask for it again from {library}\n"
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[export.owner.email])
    except OSError:
        # The page still shows the state and the link: a mail outage loses nothing.
        logger.exception("could not e-mail export %s", export.public_id)


def export_open(*, export):
    """Return the ready export's zip, opened from storage, or raise Http404 if gone or expired."""
    if export.status != ExportStatus.READY or export.is_expired or not export.file:
        raise Http404("This export is not available.")
    try:
        return default_storage.open(export.file, "rb")
    except FileNotFoundError:
        raise Http404("This export is not available.") from None


def exports_expired_delete(*, limit=200):
    """Delete the zips of exports past their 7 days (the rows stay, saying so); return the count."""
    done = 0
    due = Export.objects.filter(status=ExportStatus.READY, expires_at__lt=timezone.now()).exclude(file="")
    for export in due[:limit]:
        default_storage.delete(export.file)
        Export.objects.filter(pk=export.pk).update(file="")
        done += 1
    return done
