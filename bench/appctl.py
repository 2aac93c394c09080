"""What the benchmark asks of the app's own services: accounts with keys and credits, and row counts.

Called in-process for PostgreSQL (bench/run.py has Django set up there), and as
`python -m bench.appctl accounts|count …` for a database configured only in a child's environment
(the SQLite part).
"""

import json
import sys

BIG_BALANCE = 100_000_000
# Far above any rate the benchmark makes: it measures the server, not the per-key throttle.
BENCH_RATE_LIMIT = 1_000_000


def accounts_make(*, n, prefix, credits=BIG_BALANCE, rate_limit=BENCH_RATE_LIMIT):
    """Create `n` users with credits (an adjustment) and one API key at `rate_limit`/min; return the keys."""
    from artio.models import User
    from artio.services import api_key_create, partner_rate_limit_set
    from billing.services import account_for_user, balance_adjust

    keys = []
    for i in range(n):
        user = User.objects.create_user(email=f"{prefix}-{i}@bench.example", password=None)
        account = account_for_user(user=user)
        balance_adjust(account_id=account.pk, amount=credits, reason="benchmark")
        _key, raw = api_key_create(user=user, name="bench")
        partner_rate_limit_set(user=user, per_minute=rate_limit)
        keys.append(raw)
    return keys


def created_count(*, tag):
    """Return (generations, charge ledger rows) made by requests whose Idempotency-Key starts with `tag`."""
    from billing.models import LedgerEntry, LedgerKind
    from generation.models import Generation

    made = Generation.objects.filter(idempotency_key__startswith=f"{tag}-")
    charges = LedgerEntry.objects.filter(
        kind=LedgerKind.GENERATION_CHARGE, reference__in=made.values("public_id")
    ).count()
    return made.count(), charges


def main(argv):
    import django

    django.setup()
    if argv[0] == "accounts":
        print(json.dumps(accounts_make(n=int(argv[1]), prefix=argv[2])))
    elif argv[0] == "count":
        print(json.dumps([created_count(tag=tag) for tag in argv[1:]]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
