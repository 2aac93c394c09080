"""Idempotency-Key: replay, reuse with another body, in progress, released on error, concurrency."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from artio.idempotency import idempotency_records_purge
from artio.models import IdempotencyRecord
from billing.models import Account, LedgerEntry, LedgerKind
from catalog.services import catalog_seed
from generation.models import Generation

from .conftest import client_for, grant

FAST = "google/imagen4-fast"
BODY = {"model": FAST, "input": {"prompt": "a fox", "num_images": 2}}


def create(api, body=BODY, key="key-1"):
    return api.post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_repeat_with_same_key_and_body_replays_the_first_response_and_charges_once(
    alice, alice_api, enqueued
):
    first = create(alice_api)
    second = create(alice_api, body={"input": {"num_images": 2, "prompt": "a fox"}, "model": FAST})

    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Generation.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count() == 1
    assert Account.objects.get(user=alice).balance == 1000 - 8
    assert Generation.objects.get().idempotency_key == "key-1"


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(alice_api, enqueued):
    create(alice_api)

    response = create(alice_api, body={**BODY, "input": {"prompt": "a wolf"}})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Generation.objects.count() == 1


@pytest.mark.django_db
def test_same_key_on_another_path_is_422(alice_api, enqueued):
    create(alice_api)

    response = alice_api.post("/api/v1/quotes", BODY, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 422


@pytest.mark.django_db
def test_keys_are_scoped_to_the_account(alice_api, bob_api, enqueued):
    mine = create(alice_api)
    theirs = create(bob_api)

    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.django_db
def test_repeat_while_the_first_is_running_is_409(alice, alice_api, enqueued):
    from artio.idempotency import request_fingerprint

    IdempotencyRecord.objects.create(
        user=alice,
        key="key-1",
        method="POST",
        path="/api/v1/generations",
        fingerprint=request_fingerprint(method="POST", path="/api/v1/generations", data=BODY),
    )

    response = create(alice_api)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_a_claim_abandoned_by_a_crashed_request_is_taken_over(alice, alice_api, enqueued):
    from artio.idempotency import request_fingerprint

    old = timezone.now() - timedelta(minutes=10)
    IdempotencyRecord.objects.create(
        user=alice,
        key="key-1",
        method="POST",
        path="/api/v1/generations",
        fingerprint=request_fingerprint(method="POST", path="/api/v1/generations", data=BODY),
        created_at=old,
        locked_at=old,
    )

    response = create(alice_api)

    assert response.status_code == 202
    assert Generation.objects.count() == 1


@pytest.mark.django_db
def test_an_error_response_is_not_stored_so_the_key_can_be_retried(alice, make_user, enqueued):
    from artio.services import api_key_create

    poor = make_user()
    grant(poor, 3)
    api = client_for(api_key_create(user=poor)[1])

    refused = create(api)
    assert refused.status_code == 402
    assert not IdempotencyRecord.objects.exists()
    grant(poor, 10)
    accepted = create(api)

    assert accepted.status_code == 202
    assert create(api).json() == accepted.json()
    assert Generation.objects.count() == 1


@pytest.mark.django_db
def test_invalid_idempotency_key_header_is_400(alice_api):
    response = create(alice_api, key="x" * 256)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_quotes_honour_the_key_too(alice_api):
    first = alice_api.post("/api/v1/quotes", BODY, format="json", HTTP_IDEMPOTENCY_KEY="q")
    second = alice_api.post("/api/v1/quotes", BODY, format="json", HTTP_IDEMPOTENCY_KEY="q")

    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_records_are_kept_a_day_then_purged_and_the_key_is_free_again(alice, alice_api, enqueued):
    create(alice_api)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert idempotency_records_purge() == 0
    assert create(alice_api).status_code == 202
    assert Generation.objects.count() == 1

    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # Lazily: an expired record does not block its key (the body differs, yet no 422).
    again = create(alice_api, body={**BODY, "input": {"prompt": "a wolf"}})

    assert again.status_code == 202
    assert Generation.objects.count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_make_one_generation_and_one_charge(
    alice, alice_key, enqueued
):
    assert connection.vendor == "postgresql"
    catalog_seed()  # an earlier transactional test may have flushed the seeded catalogue
    barrier = threading.Barrier(20)
    statuses, bodies = [], []
    lock = threading.Lock()

    def call():
        api = client_for(alice_key)
        barrier.wait()
        try:
            response = create(api)
            with lock:
                statuses.append(response.status_code)
                bodies.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(statuses) == 20
    assert set(statuses) <= {202, 409}
    assert statuses.count(202) >= 1
    assert len({body["id"] for body in bodies if "id" in body}) == 1
    assert Generation.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count() == 1
    assert Account.objects.get(user=alice).balance == 1000 - 8


@pytest.mark.django_db
def test_the_hourly_purge_is_scheduled_and_runs():
    from django_q.models import Schedule

    from artio.tasks import idempotency_purge

    schedule = Schedule.objects.get(name="idempotency-purge")

    assert schedule.func == "artio.tasks.idempotency_purge"
    assert schedule.schedule_type == Schedule.HOURLY
    assert idempotency_purge() == 0
