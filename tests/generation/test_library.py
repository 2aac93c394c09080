"""Your library /generations/: the grid and its cursor, search and filters, favourites, collections."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.library import PAGE_SIZE
from generation.models import Collection, Generation, Status

from .library_helpers import library_seed, more_link, prompts

pytestmark = pytest.mark.django_db
LIBRARY = reverse("generation-list")


def test_the_grid_is_newest_first_in_the_viewer_markup(alice_client, alice):
    rows = library_seed(alice, 3)
    html = alice_client.get(LIBRARY).content.decode()
    assert prompts(html) == ["2", "1", "0"]
    assert 'data-viewer aria-label="Images"' in html
    image = rows[2].images.get()
    # a click opens the full-size image (the viewer's link), with a download URL and the prompt as caption
    assert f'data-viewer-item href="{image.file.url}"' in html
    assert f'data-download="{image.file.url}?download=1" data-caption="library 2"' in html
    assert more_link(html) is None  # one page needs no "Load more"
    # the tile's actions (built from one prefix per page) are the real routes
    for name in ("generation-detail", "generation-delete", "library-favourite"):
        assert f'"{reverse(name, args=[rows[2].public_id])}"' in html


def test_running_and_failed_show_their_state_on_the_tile(alice_client, alice):
    library_seed(alice, 1, status=Status.RUNNING, prompt="running {i}")
    failed = library_seed(alice, 1, status=Status.FAILED, prompt="failed {i}")[0]
    Generation.objects.filter(pk=failed.pk).update(refunded=True, refunded_credits=4)
    html = alice_client.get(LIBRARY).content.decode()
    assert "Failed · 4 credits refunded" in html
    assert "Generating…" in html


def test_load_more_walks_every_image_once_with_ties_on_created_at(alice_client, alice):
    total = PAGE_SIZE * 2 + 5
    rows = library_seed(alice, total)
    same = timezone.now() - timedelta(days=1)
    Generation.objects.filter(pk__in=[g.pk for g in rows[20:30]]).update(created_at=same)
    pages, url = [], LIBRARY
    while url:
        html = alice_client.get(url).content.decode()
        pages.append(prompts(html))
        url = more_link(html)
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    seen = [n for page in pages for n in page]
    assert sorted(seen, key=int) == [str(i) for i in range(total)] and len(set(seen)) == total


def test_the_infinite_scroll_gets_only_the_next_tiles(alice_client, alice):
    library_seed(alice, PAGE_SIZE + 2)
    url = more_link(alice_client.get(LIBRARY).content.decode())
    fragment = alice_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert prompts(fragment) == ["1", "0"]
    assert "<html" not in fragment and "lib-filters" not in fragment
    assert more_link(fragment) is None


def test_search_and_filters_combine_and_stay_in_the_cursor(alice_client, alice):
    library_seed(alice, PAGE_SIZE + 3, prompt="library {i} red fox")
    library_seed(alice, 5, prompt="library {i} blue whale")
    html = alice_client.get(LIBRARY, {"q": "FOX red"}).content.decode()
    assert len(prompts(html)) == PAGE_SIZE
    url = more_link(html)
    assert "q=FOX+red" in url and "before=" in url
    assert len(prompts(alice_client.get(url).content.decode())) == 3
    # model, status and a date range, together
    assert (
        prompts(alice_client.get(LIBRARY, {"q": "whale", "model": "google/imagen4"}).content.decode()) == []
    )
    assert (
        len(prompts(alice_client.get(LIBRARY, {"q": "whale", "status": "succeeded"}).content.decode())) == 5
    )
    assert prompts(alice_client.get(LIBRARY, {"q": "whale", "status": "failed"}).content.decode()) == []
    today = timezone.localdate().isoformat()
    assert len(prompts(alice_client.get(LIBRARY, {"q": "whale", "from": today}).content.decode())) == 5
    old = (timezone.localdate() - timedelta(days=3)).isoformat()
    assert prompts(alice_client.get(LIBRARY, {"q": "whale", "to": old}).content.decode()) == []
    # nonsense is dropped, not an error
    response = alice_client.get(LIBRARY, {"status": "nope", "from": "yesterday", "q": "x" * 5000})
    assert response.status_code == 200


def test_another_users_images_never_show(alice_client, alice, bob):
    library_seed(bob, 2, prompt="library {i} bob's secret")
    assert prompts(alice_client.get(LIBRARY, {"q": "secret"}).content.decode()) == []
    assert prompts(alice_client.get(LIBRARY).content.decode()) == []


def test_favourite_toggles_and_filters_and_is_owner_only(alice_client, client, alice, bob):
    rows = library_seed(alice, 3)
    url = reverse("library-favourite", args=[rows[1].public_id])
    response = alice_client.post(url, {"on": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'aria-pressed="true"' in response.content.decode()
    assert prompts(alice_client.get(LIBRARY, {"favourites": "1"}).content.decode()) == ["1"]
    # without JavaScript: a plain POST and back to the page
    response = alice_client.post(url, {"on": "0", "next": LIBRARY + "?favourites=1"})
    assert response.status_code == 302 and response.url == LIBRARY + "?favourites=1"
    assert prompts(alice_client.get(LIBRARY, {"favourites": "1"}).content.decode()) == []
    assert alice_client.get(url).status_code == 405
    client.force_login(bob)
    assert client.post(url, {"on": "1"}).status_code == 404
    assert not Generation.objects.get(pk=rows[1].pk).is_favourite


def test_favourite_needs_the_csrf_token(alice, fund):
    from django.test import Client

    rows = library_seed(alice, 1)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("library-favourite", args=[rows[0].public_id]), {"on": "1"}).status_code == 403


def test_collections_create_add_view_rename_remove_delete(alice_client, alice):
    rows = library_seed(alice, 3)
    # create from an image's menu: made and the image added at once
    response = alice_client.post(
        reverse("library-collection-create"), {"name": "  Album   covers ", "add": rows[0].public_id}
    )
    assert response.status_code == 302
    covers = Collection.objects.get(owner=alice)
    assert covers.name == "Album covers" and list(covers.generations.all()) == [rows[0]]
    alice_client.post(
        reverse("library-collection-add"), {"collection": covers.pk, "image": rows[2].public_id}
    )
    view = reverse("library-collection", args=[covers.pk])
    assert prompts(alice_client.get(view).content.decode()) == ["2", "0"]
    # the collection view is a filtered library: search works in it too
    assert prompts(alice_client.get(view, {"q": "library 2"}).content.decode()) == ["2"]
    # a second one of the same name is refused with a reason
    response = alice_client.post(reverse("library-collection-create"), {"name": "album covers"}, follow=True)
    assert Collection.objects.filter(owner=alice).count() in (1, 2)  # case-sensitive names on SQLite
    response = alice_client.post(reverse("library-collection-create"), {"name": "Album covers"}, follow=True)
    assert "already have a collection" in response.content.decode()
    alice_client.post(reverse("library-collection-rename", args=[covers.pk]), {"name": "Covers"})
    covers.refresh_from_db()
    assert covers.name == "Covers"
    listing = alice_client.get(reverse("library-collections")).content.decode()
    assert "Covers" in listing and "2 images" in listing
    alice_client.post(reverse("library-collection-remove", args=[covers.pk]), {"image": rows[0].public_id})
    assert prompts(alice_client.get(view).content.decode()) == ["2"]
    alice_client.post(reverse("library-collection-delete", args=[covers.pk]))
    assert not Collection.objects.filter(pk=covers.pk).exists()
    assert Generation.objects.filter(owner=alice).count() == 3  # the images stay


def test_collections_are_owner_scoped(alice_client, client, alice, bob):
    mine = library_seed(alice, 1)[0]
    theirs = library_seed(bob, 1)[0]
    bobs = Collection.objects.create(owner=bob, name="Bob's")
    # alice cannot see, rename, fill or delete bob's collection, nor put bob's image in hers
    assert alice_client.get(reverse("library-collection", args=[bobs.pk])).status_code == 404
    assert (
        alice_client.post(reverse("library-collection-rename", args=[bobs.pk]), {"name": "x"}).status_code
        == 404
    )
    assert alice_client.post(reverse("library-collection-delete", args=[bobs.pk])).status_code == 404
    add = reverse("library-collection-add")
    assert alice_client.post(add, {"collection": bobs.pk, "image": mine.public_id}).status_code == 404
    hers = Collection.objects.create(owner=alice, name="Mine")
    assert alice_client.post(add, {"collection": hers.pk, "image": theirs.public_id}).status_code == 404
    assert alice_client.post(add, {"collection": "x", "image": mine.public_id}).status_code == 404
    assert not bobs.generations.exists() and not hers.generations.exists()


def test_delete_from_the_grid_answers_a_toast_with_undo(alice_client, alice):
    rows = library_seed(alice, 2)
    response = alice_client.post(
        reverse("generation-delete", args=[rows[1].public_id]),
        {"next": LIBRARY + "?q=library"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'hx-swap-oob="innerHTML"' in html
    assert reverse("generation-restore", args=[rows[1].public_id]) in html
    assert 'value="/generations/?q=library"' in html
    assert prompts(alice_client.get(LIBRARY).content.decode()) == ["0"]


def _library_queries(client, django_assert_max_num_queries, bound):
    with django_assert_max_num_queries(bound) as captured:
        assert client.get(LIBRARY).status_code == 200
    sql = [q["sql"].upper() for q in captured.captured_queries]
    assert not [q for q in sql if " OFFSET " in q or "COUNT(" in q]


# Session, user, account (header balance), the page, its images, its models, the filter's models,
# collections, the latest export, and a little headroom for the header's own reads.
LIBRARY_QUERIES = 12


@pytest.mark.parametrize("size", [3, 60])
def test_the_library_costs_the_same_queries_at_3_and_60_images(
    alice_client, alice, size, django_assert_max_num_queries
):
    rows = library_seed(alice, size)
    Collection.objects.create(owner=alice, name="One").generations.add(*rows[:2])
    Generation.objects.filter(pk=rows[0].pk).update(is_favourite=True)
    _library_queries(alice_client, django_assert_max_num_queries, LIBRARY_QUERIES)


@pytest.mark.parametrize("size", [3, 60])
def test_a_collection_and_a_search_cost_the_same_at_3_and_60(
    alice_client, alice, size, django_assert_max_num_queries
):
    rows = library_seed(alice, size)
    collection = Collection.objects.create(owner=alice, name="One")
    collection.generations.add(*rows)
    for url in (reverse("library-collection", args=[collection.pk]), LIBRARY + "?q=library&status=succeeded"):
        with django_assert_max_num_queries(LIBRARY_QUERIES):
            assert alice_client.get(url).status_code == 200
