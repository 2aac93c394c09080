"""docs/api.md's quick start, run as written: its Python blocks against a live server over HTTP."""

import re
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from catalog.services import catalog_seed
from generation.models import Generation
from generation.webhooks import webhook_signature

from .conftest import grant

QUICK_START = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def python_block(containing):
    """Return the one ```python block of docs/api.md that contains `containing`."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", QUICK_START.read_text(), re.S) if containing in b]
    assert len(blocks) == 1, containing
    return blocks[0]


@pytest.mark.django_db(transaction=True)
def test_create_a_key_quote_and_generate_as_the_quick_start_says(alice, live_server, enqueued, capsys):
    # given: the catalogue (an earlier transactional test may have flushed it), a key from the
    # command the quick start shows, and credits
    catalog_seed()
    grant(alice, 100)
    out = StringIO()
    call_command("create_api_key", alice.email, "--name", "production", stdout=out)
    raw_key = re.search(r"artio_\S+", out.getvalue()).group()
    namespace = {}

    def run(containing):
        code = python_block(containing)
        code = code.replace("https://artio.example/api/v1", f"{live_server.url}/api/v1")
        code = code.replace('"Bearer artio_…"', f'"Bearer {raw_key}"')
        exec(code, namespace)  # noqa: S102 (our own docs, run as a partner would run them)

    # when: sections 1 to 3 run as written
    run("session = requests.Session()")
    run("quote = session.post")
    run("import uuid")

    # then: each printed or returned what the comments promise, and the charge equals the quote
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "{'credits': 100, 'plan': 'free', 'frozen': False}"
    assert printed[1] == "8"
    generation = namespace["generation"]
    assert generation["status"] == "queued" and generation["credits_charged"] == 8
    assert (
        Generation.objects.get(public_id=generation["id"]).webhook_url
        == "https://partner.example/hooks/artio"
    )


def test_the_quick_starts_signature_check_accepts_ours_and_refuses_a_changed_body():
    namespace = {}
    exec(python_block("def artio_signature_ok"), namespace)  # noqa: S102 (our own docs)
    check = namespace["artio_signature_ok"]
    body, now = b'{"type":"generation.succeeded","data":{}}', int(time.time())
    header = webhook_signature(secret="whsec_abc", timestamp=now, body=body)

    assert check("whsec_abc", header, body)
    assert not check("whsec_abc", header, body + b" ")
    assert not check("whsec_other", header, body)
    assert not check("whsec_abc", webhook_signature(secret="whsec_abc", timestamp=now - 600, body=body), body)
