"""Pages of the owner's library: the grid (with search, filters and infinite scroll), favourites,
collections and "export all my images". Views parse, call generation.library, render."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import FileResponse, Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from artio.errors import ArtioError

from . import library, library_tiles
from .models import Collection, Status

TEMPLATE = "generation/list.html"
# Set by a delete, read once by the next library page, which offers "Undo" in its toast.
UNDO_SESSION_KEY = "generation_undo"


def _is_htmx(request):
    return bool(request.headers.get("HX-Request"))


def _tile_context(request, here):
    """What every tile shares, computed once per page rather than once per tile: the URL prefix of
    a generation's actions, one CSRF field, and where a form returns to."""
    token = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    return {"gen_base": reverse("generation-list"), "csrf_input": token, "here": here}


def _library(request, *, collection=None):
    filters = library.LibraryFilter.from_query(request.GET)
    page = library.library_page(
        user=request.user, filters=filters, before=request.GET.get("before"), collection=collection
    )
    base = reverse("generation-list")
    tiles = [library_tiles.tile(generation, base=base) for generation in page.items]
    query = filters.query()
    cursor = urlencode({"before": page.older}) if page.older else ""
    collections = library.collections_for_owner(user=request.user)
    context = {
        "page": page,
        "tiles": tiles,
        "filters": filters,
        "more_url": f"{request.path}?{query}{'&' if query else ''}{cursor}" if cursor else "",
        "collection": collection,
        "collections": collections,
        "collection_options": format_html_join(
            "", '<option value="{}">{}</option>', ((c.pk, c.name) for c in collections)
        ),
        "add_url": reverse("library-collection-add"),
        "create_url": reverse("library-collection-create"),
        "remove_url": reverse("library-collection-remove", args=[collection.pk]) if collection else "",
        **_tile_context(request, f"{request.path}?{query}" if query else request.path),
    }
    if _is_htmx(request) and request.GET.get("before"):
        # The next page of the infinite scroll: its tiles and the next "Load more".
        return render(request, f"{TEMPLATE}#items", context)
    context.update(
        models=library.library_models(user=request.user),
        statuses=Status.choices,
        export=library.export_latest(user=request.user),
        undo_id=request.session.pop(UNDO_SESSION_KEY, None),
        trash_days=settings.ARTIO_TRASH_DAYS,
    )
    return render(request, TEMPLATE, context)


@login_required
@require_GET
def library_page(request):
    """Your library: every image, newest first, searchable, filtered, scrolled by cursor."""
    return _library(request)


@login_required
@require_GET
def collection_page(request, pk):
    """One collection, shown as the library filtered to it."""
    return _library(request, collection=library.collection_get(user=request.user, pk=pk))


def _back(request, default="generation-list"):
    """Return the POSTed `next` if it is a page of ours on this site, else `default`'s URL."""
    target = request.POST.get("next", "")
    if target.startswith("/generations/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return reverse(default)


@login_required
@require_POST
def favourite_toggle(request, public_id):
    """Heart or un-heart one of the owner's images (`on` = 1 or 0)."""
    generation = library.favourite_set(
        user=request.user, public_id=public_id, on=request.POST.get("on") == "1"
    )
    if _is_htmx(request):
        context = {"g": library_tiles.heart(generation), **_tile_context(request, _back(request))}
        return render(request, "generation/_heart.html", context)
    return redirect(_back(request))


@login_required
@require_GET
def collections_page(request):
    """The owner's collections, with how many images each holds, and a form to make one."""
    collections = (
        Collection.objects.filter(owner=request.user)
        .annotate(size=Count("generations", filter=Q(generations__deleted_at__isnull=True)))
        .order_by("name", "id")
    )
    return render(request, "generation/collections.html", {"collections": collections})


def _collection_error(request, exc, default):
    messages.error(request, exc.message)
    return redirect(_back(request, default))


@login_required
@require_POST
def collection_create(request):
    try:
        collection = library.collection_create(user=request.user, name=request.POST.get("name", ""))
    except ArtioError as exc:
        return _collection_error(request, exc, "library-collections")
    public_id = request.POST.get("add", "")
    if public_id:
        library.collection_add(user=request.user, collection=collection, public_id=public_id)
        messages.success(request, f"Added to “{collection.name}”.")
        return redirect(_back(request))
    messages.success(request, f"Collection “{collection.name}” created.")
    return redirect("library-collection", pk=collection.pk)


@login_required
@require_POST
def collection_rename(request, pk):
    collection = library.collection_get(user=request.user, pk=pk)
    try:
        library.collection_rename(collection=collection, name=request.POST.get("name", ""))
    except ArtioError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Renamed to “{collection.name}”.")
    return redirect("library-collection", pk=collection.pk)


@login_required
@require_POST
def collection_delete(request, pk):
    collection = library.collection_get(user=request.user, pk=pk)
    name = collection.name
    library.collection_delete(collection=collection)
    messages.success(request, f"Collection “{name}” deleted. Its images are still in your library.")
    return redirect("library-collections")


@login_required
@require_POST
def collection_add(request):
    try:
        pk = int(request.POST.get("collection", ""))
    except ValueError:
        raise Http404("No such collection.") from None
    collection = library.collection_get(user=request.user, pk=pk)
    library.collection_add(user=request.user, collection=collection, public_id=request.POST.get("image", ""))
    messages.success(request, f"Added to “{collection.name}”.")
    return redirect(_back(request))


@login_required
@require_POST
def collection_remove(request, pk):
    collection = library.collection_get(user=request.user, pk=pk)
    library.collection_remove(
        user=request.user, collection=collection, public_id=request.POST.get("image", "")
    )
    messages.success(request, f"Removed from “{collection.name}”. It is still in your library.")
    return redirect(_back(request))


@login_required
@require_POST
def export_request(request):
    """Queue "export all my images"; the page then shows its state, and an e-mail brings the link."""
    try:
        library.export_request(user=request.user)
    except library.ExportBusy as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, "Export started. We will e-mail you a download link when the zip is ready.")
    return redirect(reverse("generation-list") + "#export")


@login_required
@require_GET
def export_download(request, public_id):
    """The owner's zip while its link is valid (7 days); anyone else's, or an expired one, is a 404."""
    export = library.export_get(user=request.user, public_id=public_id)
    handle = library.export_open(export=export)
    response = FileResponse(handle, as_attachment=True, filename=export.file.rsplit("/", 1)[-1])
    response["Cache-Control"] = "private, no-store"
    return response
