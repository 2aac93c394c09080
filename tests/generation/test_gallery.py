"""The library's keyset pages: a bad cursor is the newest page, and a deep page costs what the first does."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generation.library import PAGE_SIZE

from .library_helpers import library_seed, more_link, prompts


@pytest.mark.django_db
def test_a_bad_cursor_shows_the_newest_page(alice_client, alice):
    library_seed(alice, 1)
    for cursor in ("nonsense", "2026-01-01T00:00:00~x", "~", "2026-01-01T00:00:00~5"):
        html = alice_client.get(reverse("generation-list"), {"before": cursor}).content.decode()
        assert prompts(html) == ["0"]


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    sql = [q["sql"].upper() for q in queries]
    # Keyset, not OFFSET: no row count and no rows skipped, however deep the page.
    assert not [q for q in sql if " OFFSET " in q or "COUNT(" in q]
    return len(sql)


@pytest.mark.django_db
def test_a_deep_page_costs_the_same_queries_as_the_first(alice_client, alice):
    library_seed(alice, PAGE_SIZE * 4)
    url = reverse("generation-list")
    first = _queries(alice_client, url)
    for _ in range(3):
        url = more_link(alice_client.get(url).content.decode())
    assert prompts(alice_client.get(url).content.decode())[-1] == "0"
    assert _queries(alice_client, url) == first
