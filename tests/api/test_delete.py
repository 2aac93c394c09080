"""A generation its owner deleted on the site is gone from the partner API at once, and back on restore."""

from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from generation.models import Generation
from tests.pipeline_helpers import run_until_terminal

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(alice_api, kie_sandbox, enqueued, settings, tmp_path):
    """Return the id of a generation alice made through the API, succeeded with its image stored."""
    settings.MEDIA_ROOT = tmp_path
    created = alice_api.post(
        "/api/v1/generations", {"model": "google/imagen4-fast", "input": {"prompt": "a fox"}}, format="json"
    )
    assert created.status_code == 202
    generation = run_until_terminal(Generation.objects.get(public_id=created.json()["id"]))
    assert generation.status == "succeeded"
    return generation.public_id


def test_deleted_generation_is_404_and_unlisted_and_its_images_404(alice, alice_api, client, finished):
    # given: the partner sees it and can fetch its image
    url = f"/api/v1/generations/{finished}"
    image = urlsplit(alice_api.get(url).json()["images"][0]["url"]).path
    assert client.get(image).status_code == 200
    # when: its owner deletes it on the site
    client.force_login(alice)
    assert client.post(reverse("generation-delete", args=[finished])).status_code == 302
    client.logout()
    # then
    response = alice_api.get(url)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert finished not in [g["id"] for g in alice_api.get("/api/v1/generations").json()["results"]]
    assert client.get(image).status_code == 404


def test_restored_generation_is_back_in_the_api(alice, alice_api, client, finished):
    client.force_login(alice)
    client.post(reverse("generation-delete", args=[finished]))
    client.post(reverse("generation-restore", args=[finished]))
    client.logout()
    body = alice_api.get(f"/api/v1/generations/{finished}").json()
    assert body["id"] == finished and len(body["images"]) == 1
    assert finished in [g["id"] for g in alice_api.get("/api/v1/generations").json()["results"]]
    assert client.get(urlsplit(body["images"][0]["url"]).path).status_code == 200


def test_purged_generation_stays_404_and_the_ledger_keeps_its_charge(alice, alice_api, client, finished):
    client.force_login(alice)
    client.post(reverse("generation-delete", args=[finished]))
    client.post(reverse("generation-forever", args=[finished]))
    assert alice_api.get(f"/api/v1/generations/{finished}").status_code == 404
    charges = [e for e in alice_api.get("/api/v1/ledger").json()["results"] if e["reference"] == finished]
    assert [e["kind"] for e in charges] == ["generation_charge"]


def test_another_partners_delete_changes_nothing(bob, alice_api, client, finished):
    client.force_login(bob)
    assert client.post(reverse("generation-delete", args=[finished])).status_code == 404
    assert alice_api.get(f"/api/v1/generations/{finished}").status_code == 200
