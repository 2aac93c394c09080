"""The money path's statements: API create with and without an Idempotency-Key, and the Generate
form's POST, with warm caches. The counts are what the path costs now; more is a regression.

Counted on the test database, where each transaction of the code is a savepoint inside the test's
own: SAVEPOINT and RELEASE are two statements (in production: BEGIN IMMEDIATE, and a COMMIT that is
not counted). The real django-q2 ORM broker queues the dispatch: its row is one INSERT, after one read of the
dispatcher's lease (a wake-up is queued only when no dispatcher runs). The cache is the embedded
default's table (with Redis, the memo's version is not a SQL statement).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .conftest import grant

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"
BODY = {"model": FAST, "input": {"prompt": "a fox", "num_images": 2}}


def _head(sql):
    """Return what a statement does: 'SAVEPOINT', 'UPDATE "table"', 'SELECT "table"'…"""
    if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
        return sql.rsplit(" ", 1)[0]
    if sql.startswith("SELECT"):
        return " ".join(["SELECT", sql.split(" FROM ")[1].split()[0]])
    return " ".join(sql.split()[:3]) if sql.startswith("INSERT") else " ".join(sql.split()[:2])


def statements(send):
    """Return the response and the statements `send()` ran, each as its _head."""
    with CaptureQueriesContext(connection) as captured:
        response = send()
    charges = [q["sql"] for q in captured if q["sql"].startswith('UPDATE "billing_account"')]
    # The charge is one conditional UPDATE that returns the new balance: nothing reads it again.
    assert all("RETURNING" in sql and '"balance" >=' in sql for sql in charges), charges
    return response, [_head(query["sql"]) for query in captured]


def write_transaction(sql):
    """Return the statements of the last transaction (savepoint) of the request."""
    last = max(i for i, text in enumerate(sql) if text.startswith("SAVEPOINT"))
    return sql[last + 1 : -1]


def test_api_create_without_a_key_costs_13_statements(alice_api):
    alice_api.post("/api/v1/generations", BODY, format="json")  # warms the memo and last_used_at

    response, sql = statements(lambda: alice_api.post("/api/v1/generations", BODY, format="json"))

    assert response.status_code == 202, response.json()
    assert response.json()["images"] == []
    assert len(sql) == 13, sql
    # Before the transaction: the key, the account, the memo's version (the model, its prices, the
    # pause and the partner terms come from this process's memory), the key's rate counter.
    assert sql[:4] == [
        'SELECT "artio_apikey"',
        'SELECT "billing_account"',
        'SELECT "artio_cache"',
        "INSERT INTO artio_ratecounter",
    ]
    assert write_transaction(sql) == [
        'INSERT INTO "generation_generation"',
        'SELECT "generation_dispatchstate"',
        'INSERT INTO "django_q_ormq"',
        # The key's spend this month (one upsert, refused past its cap), and what it paid for.
        'INSERT INTO "billing_keyspend"',
        'INSERT INTO "billing_keycharge"',
        'UPDATE "billing_account"',
        'INSERT INTO "billing_ledgerentry"',
    ]


def test_api_create_with_a_key_costs_17_statements(alice_api):
    alice_api.post("/api/v1/generations", BODY, format="json", HTTP_IDEMPOTENCY_KEY="warm")

    response, sql = statements(
        lambda: alice_api.post("/api/v1/generations", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    )

    assert response.status_code == 202, response.json()
    assert len(sql) == 17, sql
    # The claim commits on its own; the response is stored in the charge's transaction.
    assert sql[4:7] == ["SAVEPOINT", 'INSERT INTO "artio_idempotencyrecord"', "RELEASE SAVEPOINT"]
    assert write_transaction(sql) == [
        'INSERT INTO "generation_generation"',
        'SELECT "generation_dispatchstate"',
        'INSERT INTO "django_q_ormq"',
        'UPDATE "artio_idempotencyrecord"',
        'INSERT INTO "billing_keyspend"',
        'INSERT INTO "billing_keycharge"',
        'UPDATE "billing_account"',
        'INSERT INTO "billing_ledgerentry"',
    ]


def test_generate_form_post_costs_11_statements(client, alice):
    grant(alice, 100, plan="premium")
    client.force_login(alice)
    form = {"model": FAST, "prompt": "a cat", "num_images": "1"}
    client.post(reverse("generate"), form)

    response, sql = statements(lambda: client.post(reverse("generate"), form))

    assert response.status_code == 302
    # Session, user, account, the memo's version (the model and its prices come from memory), then
    # the same write transaction as the API's.
    assert len(sql) == 11, sql
    assert write_transaction(sql) == [
        'INSERT INTO "generation_generation"',
        'SELECT "generation_dispatchstate"',
        'INSERT INTO "django_q_ormq"',
        'UPDATE "billing_account"',
        'INSERT INTO "billing_ledgerentry"',
    ]
