"""Partner webhooks: URL safety, signature, delivery over real HTTP, retries, the delivery log."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from artio.services import partner_settings_for_user
from generation import tasks
from generation.models import Generation, Status, WebhookDelivery
from generation.webhooks import (
    WebhookUrlRefused,
    webhook_signature,
    webhook_signature_verify,
    webhook_url_check,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "ftp://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.1/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
        "https:///nohost",
        "https://no-such-host.invalid/hook",
    ],
)
def test_unsafe_urls_are_refused(url):
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url, allow_private=False)


def test_public_https_url_is_accepted(monkeypatch):
    monkeypatch.setattr(
        "socket.getaddrinfo", lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port))]
    )

    webhook_url_check("https://hooks.partner.example/artio", allow_private=False)


def test_a_host_resolving_to_any_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(
        "socket.getaddrinfo",
        lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port)), (2, 1, 6, "", ("10.0.0.5", port))],
    )

    with pytest.raises(WebhookUrlRefused):
        webhook_url_check("https://rebind.example/artio", allow_private=False)


def test_allow_private_permits_http_and_loopback():
    webhook_url_check("http://127.0.0.1:8080/hook", allow_private=True)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    header = webhook_signature(secret="whsec_x", timestamp=1700000000, body=b'{"a":1}')

    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhook_signature_verify(secret="whsec_x", header=header, body=b'{"a":1}', now=1700000010)
    assert not webhook_signature_verify(secret="whsec_x", header=header, body=b'{"a":2}', now=1700000010)
    assert not webhook_signature_verify(secret="whsec_y", header=header, body=b'{"a":1}', now=1700000010)
    assert not webhook_signature_verify(secret="whsec_x", header=header, body=b'{"a":1}', now=1700009999)


def _terminal_generation(api, receiver, status=Status.SUCCEEDED):
    created = api.post(
        "/api/v1/generations",
        {"model": "google/imagen4-fast", "input": {"prompt": "a fox"}, "webhook_url": receiver.url},
        format="json",
    )
    assert created.status_code == 202, created.json()
    generation = Generation.objects.get(public_id=created.json()["id"])
    changes = {"status": status, "completed_at": timezone.now()}
    if status == Status.FAILED:
        changes.update(error_code="generation_failed", error_message="The model could not make this image.")
    Generation.objects.filter(pk=generation.pk).update(**changes)
    return generation


def test_delivery_posts_the_signed_generation_object(alice, alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)

    tasks.partner_webhook_send(generation.pk)

    assert len(receiver.received) == 1
    hit = receiver.received[0]
    body = json.loads(hit["raw"])
    assert body["type"] == "generation.succeeded"
    assert body["data"]["id"] == generation.public_id
    assert body["data"]["status"] == "succeeded"
    secret = partner_settings_for_user(user=alice).webhook_secret
    assert webhook_signature_verify(secret=secret, header=hit["headers"]["Artio-Signature"], body=hit["raw"])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempt, delivery.status_code, delivery.succeeded) == (1, 200, True)
    assert delivery.duration_ms is not None
    assert delivery.next_attempt_at is None


def test_failed_generation_sends_generation_failed_with_the_error(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver, status=Status.FAILED)

    tasks.partner_webhook_send(generation.pk)

    body = receiver.json()
    assert body["type"] == "generation.failed"
    assert body["data"]["error"]["code"] == "generation_failed"


def test_non_2xx_is_logged_and_retried_with_backoff(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)
    receiver.reply_next(500)
    receiver.reply_next(503)

    tasks.partner_webhook_send(generation.pk)
    first = WebhookDelivery.objects.get(attempt=1)
    schedule = Schedule.objects.get(func="generation.tasks.partner_webhook_send")
    assert first.status_code == 500 and not first.succeeded and first.error == "HTTP 500"
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.args == f"{generation.pk},2"
    assert timedelta(seconds=20) < schedule.next_run - timezone.now() <= timedelta(seconds=31)

    tasks.partner_webhook_send(generation.pk, 2)
    second = WebhookDelivery.objects.get(attempt=2)
    assert second.next_attempt_at - timezone.now() > timedelta(seconds=50)

    tasks.partner_webhook_send(generation.pk, 3)
    assert WebhookDelivery.objects.get(attempt=3).succeeded
    assert WebhookDelivery.objects.get(attempt=3).next_attempt_at is None
    assert len(receiver.received) == 3


def test_retries_stop_after_a_day(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)
    receiver.reply_next(500)
    WebhookDelivery.objects.create(
        account=generation.account,
        generation_public_id=generation.public_id,
        event_type="generation.succeeded",
        url=receiver.url,
        attempt=1,
        status_code=500,
        created_at=timezone.now() - timedelta(hours=23, minutes=59),
    )

    tasks.partner_webhook_send(generation.pk, 12)

    assert WebhookDelivery.objects.get(attempt=12).next_attempt_at is None
    assert not Schedule.objects.filter(func="generation.tasks.partner_webhook_send").exists()


def test_redirects_are_not_followed(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)
    receiver.reply_next(302, location=receiver.url + "/elsewhere")

    tasks.partner_webhook_send(generation.pk)

    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status_code == 302
    assert not WebhookDelivery.objects.get().succeeded


def test_url_is_checked_again_at_delivery_time(alice_api, receiver, enqueued, settings):
    generation = _terminal_generation(alice_api, receiver)
    settings.ARTIO_WEBHOOK_ALLOW_PRIVATE = False

    tasks.partner_webhook_send(generation.pk)

    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.error.startswith("Refused")
    assert delivery.next_attempt_at is not None


def test_a_timeout_is_a_failed_attempt(alice_api, enqueued, monkeypatch):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    monkeypatch.setattr("generation.webhooks.READ_TIMEOUT", 0.3)
    created = alice_api.post(
        "/api/v1/generations",
        {"model": "google/imagen4-fast", "input": {"prompt": "a fox"}, "webhook_url": url},
        format="json",
    ).json()
    Generation.objects.filter(public_id=created["id"]).update(status=Status.SUCCEEDED)

    started = time.monotonic()
    tasks.partner_webhook_send(Generation.objects.get(public_id=created["id"]).pk)
    listener.close()

    assert time.monotonic() - started < 3
    delivery = WebhookDelivery.objects.get()
    assert delivery.error == "Timed out." and delivery.status_code is None
    assert delivery.next_attempt_at is not None


def test_a_redelivered_task_posts_each_attempt_once(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)

    tasks.partner_webhook_send(generation.pk)
    tasks.partner_webhook_send(generation.pk)

    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.count() == 1


def test_nothing_is_sent_before_a_terminal_state(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)
    Generation.objects.filter(pk=generation.pk).update(status=Status.RUNNING)

    assert tasks.partner_webhook_send(generation.pk) is None
    assert receiver.received == []


def test_deliveries_are_listed_on_the_keys_page_for_their_owner_only(
    client, alice, bob, alice_api, receiver, enqueued
):
    generation = _terminal_generation(alice_api, receiver)
    tasks.partner_webhook_send(generation.pk)

    client.force_login(alice)
    mine = client.get("/account/webhook-deliveries/").content.decode()
    client.force_login(bob)
    theirs = client.get("/account/webhook-deliveries/").content.decode()

    assert generation.public_id in mine
    assert generation.public_id not in theirs


def test_an_attempt_left_unfinished_by_a_dead_worker_is_made_by_the_redelivered_task(
    alice_api, receiver, enqueued
):
    # given: attempt 1 was claimed 5 minutes ago by a worker that died before it posted
    generation = _terminal_generation(alice_api, receiver)
    WebhookDelivery.objects.create(
        account=generation.account,
        generation_public_id=generation.public_id,
        event_type="generation.succeeded",
        url=generation.webhook_url,
        attempt=1,
        created_at=timezone.now() - timedelta(minutes=5),
    )

    # when: django-q2 delivers the task again
    tasks.partner_webhook_send(generation.pk)

    # then: the attempt is made and recorded on the same row
    assert len(receiver.received) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.succeeded and delivery.status_code == 200 and delivery.duration_ms is not None


def test_an_attempt_still_in_flight_is_not_made_twice(alice_api, receiver, enqueued):
    generation = _terminal_generation(alice_api, receiver)
    WebhookDelivery.objects.create(
        account=generation.account,
        generation_public_id=generation.public_id,
        event_type="generation.succeeded",
        url=generation.webhook_url,
        attempt=1,
    )

    assert tasks.partner_webhook_send(generation.pk) is None
    assert receiver.received == []
