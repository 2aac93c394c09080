import pytest
from rest_framework.test import APIClient

from artio.models import PartnerSettings
from artio.services import api_key_create
from catalog.models import AIModel, Price
from catalog.schemas import schema_check
from tests.catalog.test_seed import SEED_PRICES


@pytest.fixture
def api():
    return APIClient()


@pytest.mark.django_db
def test_model_list_has_every_active_model_with_its_seed_prices(api):
    response = api.get("/api/v1/models")

    assert response.status_code == 200
    models = response.json()
    assert len(models) == 19
    got = {(m["slug"], p["variant"]): p["credits"] for m in models for p in m["prices"]}
    assert got == SEED_PRICES
    first = models[0]
    assert set(first) == {
        "slug",
        "name",
        "family",
        "kind",
        "description",
        "min_plan",
        "prices",
        "input_schema",
    }
    assert first["slug"] == "google/imagen4-fast"
    assert first["prices"] == [{"variant": "", "credits": 4, "unit": "image"}]
    for model in models:
        schema_check(model["input_schema"])


@pytest.mark.django_db
def test_model_list_leaves_out_inactive_models(api):
    AIModel.objects.filter(slug="qwen/text-to-image").update(is_active=False)
    slugs = [m["slug"] for m in api.get("/api/v1/models").json()]
    assert "qwen/text-to-image" not in slugs
    assert len(slugs) == 18


@pytest.mark.django_db
def test_model_detail_takes_a_slug_with_a_slash(api):
    response = api.get("/api/v1/models/seedream/4.5-edit")

    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "seedream/4.5-edit"
    assert body["family"] == "seedream"
    assert body["kind"] == "edit"
    assert body["min_plan"] == "standard"
    assert body["prices"] == [
        {"variant": "basic", "credits": 5, "unit": "image"},
        {"variant": "high", "credits": 8, "unit": "image"},
    ]
    assert body["input_schema"]["required"] == ["prompt", "image_urls", "aspect_ratio", "quality"]


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["nope", "google/nope", "google/imagen4-fast/extra"])
def test_unknown_model_is_a_404_in_the_error_shape(api, slug):
    response = api.get(f"/api/v1/models/{slug}")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]
    assert isinstance(error["details"], dict)


@pytest.mark.django_db
def test_inactive_model_is_not_found(api):
    AIModel.objects.filter(slug="google/imagen4").update(is_active=False)
    response = api.get("/api/v1/models/google/imagen4")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_signed_in_partner_sees_discounted_prices_rounded_up(api, alice):
    _, raw_key = api_key_create(user=alice)
    PartnerSettings.objects.filter(user=alice).update(discount_percent=15)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    models = {m["slug"]: m for m in api.get("/api/v1/models").json()}
    detail = api.get("/api/v1/models/google/imagen4-ultra").json()

    assert models["google/imagen4-ultra"]["prices"][0]["credits"] == 11  # ceil(12 × 0.85)
    assert models["recraft/remove-background"]["prices"][0]["credits"] == 2  # ceil(1.7)
    assert detail["prices"][0]["credits"] == 11


@pytest.mark.django_db
def test_a_bad_key_is_refused_not_treated_as_anonymous(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer artio_deadbeef0000_wrongsecret")
    response = api.get("/api/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.django_db
def test_anonymous_caller_sees_list_prices_after_staff_edits(api):
    Price.objects.filter(model__slug="google/imagen4").update(credits=9)
    body = api.get("/api/v1/models/google/imagen4").json()
    assert body["prices"][0]["credits"] == 9


@pytest.mark.django_db
def test_model_list_runs_in_constant_queries(api, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        assert api.get("/api/v1/models").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_describes_both_endpoints_and_the_404(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/models"]
    detail = paths["/api/v1/models/{slug}"]["get"]
    assert set(detail["responses"]) >= {"200", "404"}
    assert "Model" in schema["components"]["schemas"]
