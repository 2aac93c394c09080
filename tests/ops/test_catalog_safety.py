"""Catalogue changes are safe: KIE model ids and input schemas checked in the admin, and a test generation."""

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import LedgerEntry, LedgerKind
from billing.selectors import ledger_audit
from billing.services import account_for_user, balance_adjust
from catalog.models import AIModel
from catalog.schemas import kie_schema_problems
from catalog.seed import SEED_MODELS
from generation.models import Generation, Status
from ops.trial import trial_input, trial_uploads
from tests.catalog.test_admin import model_form_data
from tests.pipeline_helpers import run_until_terminal


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def _change(client, model, **overrides):
    return client.post(
        reverse("admin:catalog_aimodel_change", args=[model.pk]), model_form_data(model, **overrides)
    )


def test_every_seed_schema_is_one_kie_accepts():
    assert all(kie_schema_problems(entry["input_schema"]) == [] for entry in SEED_MODELS)


@pytest.mark.parametrize(
    ("kie_model", "message"),
    [
        ("Google/Imagen4", "lower-case letters"),
        ("google//imagen4", "lower-case letters"),
        ("google/imagen4 fast", "lower-case letters"),
        ("google/imagen4", "Imagen 4"),  # another model's id
    ],
)
def test_kie_model_id_format_and_uniqueness(admin_client, kie_model, message):
    fast = AIModel.objects.get(slug="google/imagen4-fast")
    response = _change(admin_client, fast, kie_model=kie_model)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["kie_model"]
    assert message in errors[0]
    fast.refresh_from_db()
    assert fast.kie_model == "google/imagen4-fast"


def _schema_error(client, schema):
    fast = AIModel.objects.get(slug="google/imagen4-fast")
    response = _change(client, fast, input_schema=json.dumps(schema))
    assert response.status_code == 200
    return " ".join(response.context["adminform"].form.errors["input_schema"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["properties"].update({"Bad Name": {"type": "string", "title": "x"}}), "field names"),
        (
            lambda s: s["properties"].update({"meta": {"type": "object", "title": "x"}}),
            '"type" must be one of',
        ),
        (lambda s: s["properties"]["prompt"].pop("title"), '"title"'),
        (lambda s: s.pop("additionalProperties"), "additionalProperties"),
        (lambda s: s["properties"]["num_images"].update({"x-kie-type": "int"}), "x-kie-type"),
        (lambda s: s["properties"]["num_images"].update({"default": 9}), "default 9 does not fit"),
        (lambda s: s.update({"type": "array"}), '"type": "object"'),
        (lambda s: s["properties"]["prompt"].update({"type": "strin"}), "not valid"),
    ],
)
def test_schema_kie_would_refuse_is_a_clear_form_error(admin_client, change, message):
    schema = json.loads(json.dumps(AIModel.objects.get(slug="google/imagen4-fast").input_schema))
    change(schema)
    assert message in _schema_error(admin_client, schema)


def test_trial_input_fills_required_fields_and_uploads_required_images():
    edit = next(m for m in SEED_MODELS if m["slug"] == "google/nano-banana-edit")["input_schema"]
    data, uploads = trial_input(edit), trial_uploads(edit)
    assert "prompt" in data and set(uploads) == {"image_urls"}
    assert uploads["image_urls"][0].read(8) == b"\x89PNG\r\n\x1a\n"


def test_test_generation_runs_an_inactive_model_once_on_the_staff_account(
    admin_client, staff, kie_sandbox, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    model = AIModel.objects.get(slug="google/imagen4-ultra")  # premium; the staff account is on Free
    AIModel.objects.filter(pk=model.pk).update(is_active=False)
    account = account_for_user(user=staff)
    balance_adjust(account_id=account.pk, amount=100, reason="staff test credits")
    url = reverse("admin:catalog_aimodel_trial", args=[model.pk])

    page = admin_client.get(url)
    assert page.status_code == 200 and "inactive" in page.content.decode()
    shown = page.context["input_text"]
    response = admin_client.post(url, {"input": shown})
    assert response.status_code == 302
    generation = Generation.objects.get(owner=staff)
    assert generation.model == model
    message = str(next(iter(get_messages(response.wsgi_request))))
    assert generation.get_absolute_url() in message

    run_until_terminal(generation)
    assert generation.status == Status.SUCCEEDED
    assert admin_client.get(generation.get_absolute_url()).status_code == 200  # the linked result page
    charge = LedgerEntry.objects.get(kind=LedgerKind.GENERATION_CHARGE, reference=generation.public_id)
    assert charge.account_id == account.pk and charge.amount == -generation.credits_charged
    assert ledger_audit() == []


def test_test_generation_says_why_it_could_not_run(admin_client, staff, kie_sandbox):
    model = AIModel.objects.get(slug="google/imagen4-fast")
    url = reverse("admin:catalog_aimodel_trial", args=[model.pk])
    response = admin_client.post(url, {"input": "{}"})
    assert response.status_code == 400
    assert "prompt: This field is required." in response.context["error"]
    response = admin_client.post(url, {"input": '{"prompt": "a cat"}'})  # no credits on the staff account
    assert response.status_code == 400
    assert "credits" in response.context["error"].lower()
    response = admin_client.post(url, {"input": "{nope"})
    assert "not valid JSON" in response.context["error"]
    assert not Generation.objects.exists()


def test_action_and_button_lead_to_the_test_page(admin_client):
    model = AIModel.objects.get(slug="google/imagen4-fast")
    change = admin_client.get(reverse("admin:catalog_aimodel_change", args=[model.pk])).content.decode()
    trial_url = reverse("admin:catalog_aimodel_trial", args=[model.pk])
    assert trial_url in change
    response = admin_client.post(
        reverse("admin:catalog_aimodel_changelist"),
        {"action": "test_generation", "_selected_action": [model.pk]},
    )
    assert response.status_code == 302 and response.url == trial_url


def test_test_generation_is_staff_only(client, alice):
    model = AIModel.objects.get(slug="google/imagen4-fast")
    client.force_login(alice)
    assert client.get(reverse("admin:catalog_aimodel_trial", args=[model.pk])).status_code == 302
