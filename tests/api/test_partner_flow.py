"""The whole partner journey against the KIE simulator over real HTTP and a real webhook receiver."""

import json
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from generation import tasks
from generation.models import Generation, Status
from tests.pipeline_helpers import run_until_terminal

from .conftest import client_for, grant

pytestmark = pytest.mark.django_db


def test_key_quote_create_webhook_retrieve_ledger(
    alice, kie_sandbox, receiver, enqueued, settings, tmp_path, client, django_capture_on_commit_callbacks
):
    # given: a partner with credits, a key from the command, and a webhook receiver
    settings.MEDIA_ROOT = tmp_path
    grant(alice, 200)
    out = StringIO()
    call_command("create_api_key", alice.email, "--name", "shop", stdout=out)
    raw_key = out.getvalue().split("store it now): ")[1].split()[0]
    secret = out.getvalue().split("Webhook signing secret: ")[1].split()[0]
    api = client_for(raw_key)
    body = {
        "model": "google/imagen4-fast",
        "input": {"prompt": "a lighthouse at dawn", "num_images": 2},
        "webhook_url": receiver.url,
    }

    # when: quote, then create with an idempotency key
    quote = api.post("/api/v1/quotes", body, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="order-17")
    assert created.status_code == 202
    assert created.json()["credits_charged"] == quote["credits"] == 8

    # and the worker runs it to the end; the pipeline enqueues our webhook task on commit
    generation = Generation.objects.get(public_id=created.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        generation = run_until_terminal(generation)
    assert generation.status == Status.SUCCEEDED
    webhook_calls = [args for func, args in enqueued if func == "generation.tasks.partner_webhook_send"]
    assert webhook_calls == [(generation.pk,)]
    tasks.partner_webhook_send(*webhook_calls[0])

    # then: the partner got a signed webhook with the finished generation
    from generation.webhooks import webhook_signature_verify

    assert len(receiver.received) == 1
    hit = receiver.received[0]
    assert webhook_signature_verify(secret=secret, header=hit["headers"]["Artio-Signature"], body=hit["raw"])
    event = json.loads(hit["raw"])
    assert event["type"] == "generation.succeeded"
    assert event["data"]["status"] == "succeeded"
    assert len(event["data"]["images"]) == 2

    # and retrieving it shows our own stored images, which we serve
    retrieved = api.get(f"/api/v1/generations/{generation.public_id}").json()
    assert retrieved["status"] == "succeeded" and retrieved["error"] is None
    assert retrieved["completed_at"] is not None
    assert len(retrieved["images"]) == 2
    for image in retrieved["images"]:
        assert image["url"].startswith("http://testserver/media/")
        assert kie_sandbox.base_url not in image["url"]
        assert image["width"] > 0 and image["height"] > 0
        assert image["content_type"].startswith("image/")
        served = client.get(urlsplit(image["url"]).path)
        assert served.status_code == 200
    assert [urlsplit(i["url"]).path for i in event["data"]["images"]] == [
        urlsplit(i["url"]).path for i in retrieved["images"]
    ]

    # and the ledger shows the charge
    ledger = api.get("/api/v1/ledger").json()["results"]
    assert ledger[0]["kind"] == "generation_charge"
    assert ledger[0]["reference"] == generation.public_id
    assert ledger[0]["amount"] == -8
    assert api.get("/api/v1/balance").json()["credits"] == 200 - 8

    # and a retry of the same request replays, charging nothing more
    replay = api.post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="order-17")
    assert replay.json() == created.json()
    assert api.get("/api/v1/balance").json()["credits"] == 200 - 8


def test_a_failed_generation_is_refunded_and_the_webhook_says_so(
    alice, alice_api, kie_sandbox, receiver, enqueued, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    kie_sandbox.fail_next(state="fail", fail_msg="content policy")
    body = {"model": "google/imagen4-fast", "input": {"prompt": "a storm"}, "webhook_url": receiver.url}
    with django_capture_on_commit_callbacks(execute=True):
        created = alice_api.post("/api/v1/generations", body, format="json").json()
    generation = Generation.objects.get(public_id=created["id"])

    with django_capture_on_commit_callbacks(execute=True):
        generation = run_until_terminal(generation)
    for func, args in enqueued:
        if func == "generation.tasks.partner_webhook_send":
            tasks.partner_webhook_send(*args)

    assert generation.status == Status.FAILED
    event = receiver.json()
    assert event["type"] == "generation.failed"
    assert event["data"]["refunded"] is True
    assert event["data"]["error"]["code"]
    retrieved = alice_api.get(f"/api/v1/generations/{generation.public_id}").json()
    assert retrieved["refunded"] is True
    assert alice_api.get("/api/v1/balance").json()["credits"] == 1000
