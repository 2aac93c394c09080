"""The partner flow through a client generated from /api/schema/ by openapi-python-client.

A partner integrates by generating a client from our OpenAPI document; this test does the same
(offline: the generator reads a file) and runs the whole journey with it against a live server,
then grows the catalogue and checks the client it already has still lists the models.
"""

import importlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from artio.services import api_key_create
from catalog.models import AIModel
from catalog.services import catalog_seed, price_create
from generation import tasks
from generation.models import Generation
from generation.serializers import GENERATION_ID_PATTERN
from tests.pipeline_helpers import run_until_terminal

from .conftest import grant

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "artio_partner_client"


@pytest.fixture
def generated_client(transactional_db, live_server, tmp_path):
    """Generate a client from the live server's /api/schema/ and import it; return the package."""
    document = httpx.get(f"{live_server.url}/api/schema/", headers={"Accept": "application/json"}, timeout=10)
    assert document.status_code == 200
    (tmp_path / "schema.json").write_text(document.text)
    # No post hooks: formatting the generated code (ruff) is the partner's business, and slow.
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")
    subprocess.run(
        [str(GENERATOR), "generate", "--path", "schema.json", "--output-path", PACKAGE, "--meta", "none",
         "--config", "config.yaml", "--fail-on-warning"],
        cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def open_client(generated_client, live_server):
    """Return a factory of the generated Client (AuthenticatedClient with a token); close them after.

    Closing inside the test ends each keep-alive connection while the live server's database is
    still the test's, not after it is gone.
    """
    client_module = importlib.import_module(f"{PACKAGE}.client")
    opened = []

    def open_(token=None):
        if token is None:
            client = client_module.Client(base_url=live_server.url)
        else:
            client = client_module.AuthenticatedClient(base_url=live_server.url, token=token)
        opened.append(client.__enter__())
        return client

    yield open_
    for client in opened:
        client.__exit__(None, None, None)


def _api(package, module):
    return importlib.import_module(f"{PACKAGE}.api.{module}")


@pytest.mark.django_db(transaction=True)
def test_the_partner_flow_runs_through_a_generated_client(
    alice, generated_client, open_client, kie_sandbox, enqueued, receiver, settings, tmp_path
):
    # given: the catalogue (an earlier transactional test may have flushed it), a key, 10 credits
    settings.MEDIA_ROOT = tmp_path / "media"
    catalog_seed()
    grant(alice, 10)
    _api_key, raw_key = api_key_create(user=alice, name="generated client")
    models = importlib.import_module(f"{PACKAGE}.models")
    anonymous, partner = open_client(), open_client(raw_key)
    models_list = _api(generated_client, "models.models_list")
    quotes_create = _api(generated_client, "generations.quotes_create")
    generations_create = _api(generated_client, "generations.generations_create")
    generations_retrieve = _api(generated_client, "generations.generations_retrieve")
    balance_retrieve = _api(generated_client, "account.balance_retrieve")
    ledger_list = _api(generated_client, "account.ledger_list")

    # when: list models, with and without a key
    listed = models_list.sync(client=partner)
    assert "google/imagen4-fast" in [model.slug for model in listed]
    assert [model.slug for model in models_list.sync(client=anonymous)] == [model.slug for model in listed]
    imagen = next(model for model in listed if model.slug == "google/imagen4-fast")
    assert "prompt" in imagen.input_schema.properties.additional_properties

    # and quote, then create with an Idempotency-Key, then replay it
    body = models.GenerationRequest(
        model="google/imagen4-fast",
        input_=models.GenerationRequestInput.from_dict({"prompt": "a lighthouse at dawn", "num_images": 2}),
        webhook_url=receiver.url,
    )
    quote = quotes_create.sync(client=partner, body=body)
    assert isinstance(quote, models.Quote) and quote.credits_ == 8
    key = str(uuid.uuid4())
    created = generations_create.sync_detailed(client=partner, body=body, idempotency_key=key)
    replayed = generations_create.sync_detailed(client=partner, body=body, idempotency_key=key)

    # then: one charge, the replay says it is one, and the id has the documented shape
    assert created.status_code == replayed.status_code == 202
    generation = created.parsed
    assert isinstance(generation, models.Generation) and generation.credits_charged == quote.credits_
    assert re.fullmatch(GENERATION_ID_PATTERN, generation.id)
    assert replayed.parsed.id == generation.id
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in created.headers

    # when: the worker (played here) runs it, and the partner polls
    run_until_terminal(Generation.objects.get(public_id=generation.id))
    polled = generations_retrieve.sync(client=partner, public_id=generation.id)

    # then: it succeeded, and its images download from Artio
    assert polled.status == "succeeded" and polled.error is None
    assert len(polled.images) == 2
    for image in polled.images:
        downloaded = httpx.get(image.url, timeout=10)
        assert downloaded.status_code == 200
        assert downloaded.headers["Content-Type"] == image.content_type
        assert len(downloaded.content) > 0

    # and the webhook Artio sends parses as the schema's WebhookEvent (the create's callback)
    for func, args in enqueued:
        if func == "generation.tasks.partner_webhook_send":
            tasks.partner_webhook_send(*args)
    event = models.WebhookEvent.from_dict(receiver.json())
    assert event.type_ == "generation.succeeded"
    assert (event.data.id, event.data.status) == (generation.id, "succeeded")
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", receiver.received[-1]["headers"]["Artio-Signature"])

    # and the balance and ledger agree with one charge; next_cursor pages through the ledger
    balance = balance_retrieve.sync(client=partner)
    assert (balance.credits_, balance.plan) == (2, "free")
    first = ledger_list.sync(client=partner, limit=1)
    assert (first.results[0].kind, first.results[0].reference) == ("generation_charge", generation.id)
    assert first.next_cursor
    second = ledger_list.sync(client=partner, limit=1, cursor=first.next_cursor)
    assert second.results[0].kind == "adjustment" and second.next_cursor is None

    # and the errors arrive as the Error type, with their codes
    bad_input = generations_create.sync_detailed(
        client=partner,
        body=models.GenerationRequest(
            model="google/imagen4-fast", input_=models.GenerationRequestInput.from_dict({"num_images": 2})
        ),
    )
    too_poor = generations_create.sync_detailed(client=partner, body=body)
    unknown = generations_retrieve.sync_detailed(client=partner, public_id="gen_" + "0" * 26)
    for response, status, code in ((bad_input, 400, "invalid_input"), (too_poor, 402, "insufficient_credits"),
                                   (unknown, 404, "not_found")):  # fmt: skip
        assert response.status_code == status
        assert isinstance(response.parsed, models.Error), response.content
        assert response.parsed.error.code == code
    assert too_poor.parsed.error.details.additional_properties == {"required": 8, "balance": 2}


@pytest.mark.django_db(transaction=True)
def test_a_client_generated_before_a_new_family_kind_plan_and_unit_still_lists_the_models(
    generated_client, open_client
):
    # given: a client generated from today's schema, and a catalogue that then grows values the
    # client has never seen (as staff adding a model of a new family would)
    catalog_seed()
    client = open_client()
    models_list = _api(generated_client, "models.models_list")
    models_retrieve = _api(generated_client, "models.models_retrieve")
    before = len(models_list.sync(client=client))
    model = AIModel.objects.create(
        slug="newcomer/model-one",
        kie_model="newcomer-one",
        name="Newcomer One",
        family="new-family",
        kind="new-kind",
        min_plan="business",
        input_schema={"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
        sort_order=1,
    )
    price_create(model=model, variant="", kie_credits=1, credits=2, unit="second", changed_by=None)

    # when: the old client lists the models, and fetches the new one
    listed = models_list.sync_detailed(client=client)
    one = models_retrieve.sync(client=client, slug="newcomer/model-one")

    # then: nothing breaks; the new values come through as plain strings
    assert listed.status_code == 200, listed.content
    assert len(listed.parsed) == before + 1
    newcomer = next(m for m in listed.parsed if m.slug == "newcomer/model-one")
    assert (newcomer.family, newcomer.kind, newcomer.min_plan) == ("new-family", "new-kind", "business")
    assert newcomer.prices[0].unit == "second"
    assert (one.family, one.kind) == ("new-family", "new-kind")
    assert json.loads(listed.content)[0]["family"] == "new-family"
