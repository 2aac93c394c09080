"""The gallery /generations/: newest first, filters, keyset pages whose cost does not grow with the page."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import Generation, GenerationImage
from generation.views import PAGE_SIZE

FAST = "google/imagen4-fast"


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def make(user, prompt):
    return services.generation_create(user=user, model_slug=FAST, data={"prompt": prompt})


def link(html, label):
    """Return the href of the pagination link `label`, or None."""
    found = re.search(r'<a href="([^"]*)">' + re.escape(label) + "</a>", html)
    return reverse("generation-list") + unescape(found.group(1)) if found else None


def prompts(html):
    return re.findall(r"prompt number (\d+)<", html)


@pytest.mark.django_db
def test_gallery_is_newest_first_and_filters(alice_client, alice, fund, tasks):
    fund(alice, 500)
    tasks.run = False
    made = [make(alice, f"prompt number {i}") for i in range(3)]
    services.generation_cancel(generation_id=made[0].pk)
    html = alice_client.get(reverse("generation-list")).content.decode()
    assert prompts(html) == ["2", "1", "0"]
    assert 'aria-label="Pages"' not in html  # one page needs no page links
    failed = alice_client.get(reverse("generation-list"), {"status": "failed"}).content.decode()
    assert prompts(failed) == ["0"]
    other = alice_client.get(reverse("generation-list"), {"model": "google/imagen4"}).content.decode()
    assert prompts(other) == []


@pytest.mark.django_db
def test_keyset_pages_walk_older_and_back_newer_without_gaps_or_repeats(alice_client, alice, fund, tasks):
    # given more than two pages, several of them created in the same instant (ties on created_at)
    fund(alice, 1000)
    tasks.run = False
    total = PAGE_SIZE * 2 + 5
    made = [make(alice, f"prompt number {i}") for i in range(total)]
    same = timezone.now() - timedelta(minutes=5)
    Generation.objects.filter(pk__in=[g.pk for g in made[20:30]]).update(created_at=same)
    Generation.objects.filter(pk__in=[g.pk for g in made[:20]]).update(created_at=same - timedelta(seconds=1))
    # when walking "Older" to the end
    pages, url = [], reverse("generation-list")
    while url:
        html = alice_client.get(url).content.decode()
        pages.append(prompts(html))
        url = link(html, "Older →")
    # then every generation appears once, newest first
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [n for page in pages for n in page] == [str(i) for i in reversed(range(total))]
    # and "Newer" from the last page leads back through the same pages
    back = link(html, "← Newer")
    html = alice_client.get(back).content.decode()
    assert prompts(html) == pages[1]
    html = alice_client.get(link(html, "← Newer")).content.decode()
    assert prompts(html) == pages[0] and link(html, "← Newer") is None


@pytest.mark.django_db
def test_a_bad_cursor_shows_the_newest_page(alice_client, alice, fund, tasks):
    fund(alice, 50)
    tasks.run = False
    make(alice, "prompt number 0")
    for cursor in ("nonsense", "2026-01-01T00:00:00~x", "~", "2026-01-01T00:00:00~5"):
        html = alice_client.get(reverse("generation-list"), {"before": cursor}).content.decode()
        assert prompts(html) == ["0"]
        html = alice_client.get(reverse("generation-list"), {"after": cursor}).content.decode()
        assert prompts(html) == ["0"]


def _gallery_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    sql = [q["sql"].upper() for q in queries]
    # Keyset, not OFFSET: no row count and no rows skipped, however deep the page.
    assert not [q for q in sql if "OFFSET" in q or "COUNT(" in q]
    return len(sql)


@pytest.mark.django_db
def test_a_deep_page_costs_the_same_queries_as_the_first(alice_client, alice, fund, tasks):
    fund(alice, 2000)
    tasks.run = False
    made = [make(alice, f"prompt number {i}") for i in range(PAGE_SIZE * 4)]
    GenerationImage.objects.bulk_create(
        GenerationImage(generation=g, file=f"generations/{g.public_id}.png", content_type="image/png")
        for g in made
    )
    first_url = reverse("generation-list")
    first = _gallery_queries(alice_client, first_url)
    url = first_url
    for _ in range(3):
        url = link(alice_client.get(url).content.decode(), "Older →")
    deep = _gallery_queries(alice_client, url)
    assert first == deep
    assert first <= 7  # session, user, account, the page, its images, the filter's models and prices
