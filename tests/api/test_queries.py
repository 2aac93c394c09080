"""List endpoints cost the same number of queries for 2 rows as for 20: no query per row (N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation.models import Generation, GenerationImage

from .conftest import grant

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"


def queries_for(api, url):
    api.get("/api/v1/balance")  # the key's first use writes last_used_at: keep that out of the count
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    return len(captured), response.json()


def add_generations(api, count):
    """Create `count` generations through the API, each with two stored images."""
    for index in range(count):
        body = {"model": FAST, "input": {"prompt": f"p{index}"}}
        created = api.post("/api/v1/generations", body, format="json")
        generation = Generation.objects.get(public_id=created.json()["id"])
        for position in range(2):
            GenerationImage.objects.create(
                generation=generation,
                file=f"generations/{generation.public_id}_{position}.png",
                width=1024,
                height=1024,
                content_type="image/png",
                position=position,
            )


def test_generation_list_queries_do_not_grow_with_rows(alice_api, enqueued):
    add_generations(alice_api, 2)
    few, few_page = queries_for(alice_api, "/api/v1/generations?limit=100")
    add_generations(alice_api, 18)

    many, many_page = queries_for(alice_api, "/api/v1/generations?limit=100")

    assert len(few_page["results"]) == 2 and len(many_page["results"]) == 20
    assert all(len(g["images"]) == 2 for g in many_page["results"])
    assert many == few


def test_ledger_queries_do_not_grow_with_rows(alice, alice_api):
    few, few_page = queries_for(alice_api, "/api/v1/ledger?limit=100")
    for _ in range(20):
        grant(alice, 1)

    many, many_page = queries_for(alice_api, "/api/v1/ledger?limit=100")

    assert len(few_page["results"]) == 1 and len(many_page["results"]) == 21
    assert many == few
