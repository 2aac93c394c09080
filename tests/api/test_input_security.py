"""Partners' inputs: image links must be public https, and KIE's content filter stays on."""

import pytest

from artio.services import api_key_create
from billing.models import LedgerEntry
from catalog.models import AIModel
from generation.models import Generation

from ..catalog.test_input_security import ATTACKS
from .conftest import client_for, grant

pytestmark = pytest.mark.django_db

FLUX = "flux-2/pro-text-to-image"  # has nsfw_checker; premium
FLUX_INPUT = {"prompt": "a lighthouse", "aspect_ratio": "1:1", "resolution": "1K"}


def create(api, body):
    return api.post("/api/v1/generations", body, format="json")


def nothing_charged(user, balance):
    return (
        user.account.__class__.objects.get(user=user).balance == balance
        and not Generation.objects.exists()
        and not LedgerEntry.objects.filter(account__user=user, kind="generation_charge").exists()
    )


@pytest.fixture
def staff_api(make_user):
    staff = make_user("ops@example.com", is_staff=True)
    grant(staff, 1000, plan="premium")
    _key, raw = api_key_create(user=staff, name="ops")
    return staff, client_for(raw)


@pytest.mark.parametrize("url", ATTACKS)
@pytest.mark.parametrize(
    ("model", "field", "make_input"),
    [
        ("recraft/remove-background", "input.image", lambda url: {"image": url}),
        (
            "google/nano-banana-edit",
            "input.image_urls.0",
            lambda url: {"prompt": "blue", "image_urls": [url]},
        ),
    ],
)
def test_image_link_that_is_not_public_https_is_400_and_charges_nothing(
    alice, alice_api, enqueued, url, model, field, make_input
):
    response = create(alice_api, {"model": model, "input": make_input(url)})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["details"]) == [field]
    assert "link" in error["details"][field][0]
    assert nothing_charged(alice, 1000)
    assert enqueued == []


def test_public_https_image_link_is_accepted(alice_api, enqueued):
    body = {
        "model": "google/nano-banana-edit",
        "input": {"prompt": "blue", "image_urls": ["https://a.example/x.png"]},
    }

    response = create(alice_api, body)

    assert response.status_code == 202
    assert response.json()["input"]["image_urls"] == ["https://a.example/x.png"]


def test_quote_refuses_a_private_link_too(alice_api):
    body = {"model": "recraft/crisp-upscale", "input": {"image": "https://169.254.169.254/x.png"}}

    response = alice_api.post("/api/v1/quotes", body, format="json")

    assert response.status_code == 400
    assert "input.image" in response.json()["error"]["details"]


def test_partner_cannot_turn_the_content_filter_off(alice, alice_api, enqueued):
    response = create(alice_api, {"model": FLUX, "input": {**FLUX_INPUT, "nsfw_checker": False}})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "input.nsfw_checker": ["The content filter is always on; it cannot be turned off."]
    }
    assert nothing_charged(alice, 1000)


@pytest.mark.parametrize("sent", [{"nsfw_checker": True}, {}])
def test_partner_gets_the_content_filter_on_whether_sent_or_not(alice_api, enqueued, sent):
    response = create(alice_api, {"model": FLUX, "input": {**FLUX_INPUT, **sent}})

    assert response.status_code == 202
    assert Generation.objects.get().input["nsfw_checker"] is True


def test_staff_may_turn_the_filter_off_on_a_model_that_allows_it(staff_api, enqueued):
    staff, api = staff_api
    AIModel.objects.filter(slug=FLUX).update(content_filter_optional=True)

    response = create(api, {"model": FLUX, "input": {**FLUX_INPUT, "nsfw_checker": False}})

    assert response.status_code == 202
    assert Generation.objects.get(owner=staff).input["nsfw_checker"] is False


def test_staff_cannot_turn_the_filter_off_on_a_model_that_does_not_allow_it(staff_api, enqueued):
    staff, api = staff_api

    response = create(api, {"model": FLUX, "input": {**FLUX_INPUT, "nsfw_checker": False}})

    assert response.status_code == 400
    assert "input.nsfw_checker" in response.json()["error"]["details"]
    assert nothing_charged(staff, 1000)


def test_a_partner_on_a_model_that_allows_it_still_cannot(alice, alice_api, enqueued):
    AIModel.objects.filter(slug=FLUX).update(content_filter_optional=True)

    response = create(alice_api, {"model": FLUX, "input": {**FLUX_INPUT, "nsfw_checker": False}})

    assert response.status_code == 400
    assert nothing_charged(alice, 1000)
