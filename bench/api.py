"""Parts 1–4: the partner API under load, each figure against a baseline measured in alternating rounds.

`count(tags)` returns, per Idempotency-Key tag, (generations, charge ledger rows) really made, so a
create is counted only when its row and its debit exist, not when a 202 came back.
"""

from .load import Api, closed_loop, median, open_loop, pct


def _cpu_ms(results):
    """Server CPU milliseconds per answered request over these runs."""
    results = list(results)
    answered = sum(sum(r["codes"].values()) for r in results)
    return sum(r["cpu_s"] for r in results) / answered * 1000 if answered else float("nan")


def _codes(counter):
    return {str(code): n for code, n in sorted(counter.items(), key=lambda item: str(item[0]))}


def _errors(counter):
    return sum(n for code, n in counter.items() if not (isinstance(code, int) and 200 <= code < 300))


def _timed(cpu, send, **kwargs):
    """Run closed_loop(send, **kwargs); add "cpu_s", the CPU seconds the server used meanwhile."""
    before = cpu()
    result = closed_loop(send, **kwargs)
    result["cpu_s"] = cpu() - before
    return result


def warm_up(*, base_url, keys, seconds=2.0):
    """Exercise both requests unmeasured: a fresh gunicorn worker's first requests import and cache."""
    api = Api(base_url)
    for send in (api.balance, api.create, api.balance):
        closed_loop(send, keys=keys, conc=4, seconds=seconds, tag="warm")


def create_vs_balance(*, base_url, keys, levels, rounds, seconds, count, prefix, cpu):
    """At each concurrency: rounds of balance then create; report medians and the median ratio.

    `cpu()` returns the web server's CPU seconds so far: CPU per request shows what a request costs
    the server whatever else the shared machine is doing.
    """
    api = Api(base_url)
    runs = []
    for conc in levels:
        for r in range(rounds):
            balance = _timed(cpu, api.balance, keys=keys, conc=conc, seconds=seconds, tag="")
            tag = f"{prefix}-c{conc}-r{r}"
            create = _timed(cpu, api.create, keys=keys, conc=conc, seconds=seconds, tag=tag)
            runs.append({"conc": conc, "tag": tag, "balance": balance, "create": create})
            print(
                f"    {conc:>2} conns round {r + 1}: balance {balance['ok'] / balance['seconds']:.0f}/s, "
                f"create 2xx {create['ok'] / create['seconds']:.0f}/s",
                flush=True,
            )
    counted = count([run["tag"] for run in runs])
    out = {}
    for conc in levels:
        mine = [(run, counted[i]) for i, run in enumerate(runs) if run["conc"] == conc]
        balance_rates = [run["balance"]["ok"] / run["balance"]["seconds"] for run, _ in mine]
        created_rates = [rows / run["create"]["seconds"] for run, (rows, _charges) in mine]
        ratios = [c / b if b else float("nan") for c, b in zip(created_rates, balance_rates, strict=True)]
        out[conc] = {
            "balance_per_s": median(balance_rates),
            "created_per_s": median(created_rates),
            "ratio": median(ratios),
            "rounds": len(mine),
            "accepted": sum(run["create"]["ok"] for run, _ in mine),
            "rows": sum(rows for _, (rows, _c) in mine),
            "charges": sum(charges for _, (_r, charges) in mine),
            "errors": sum(
                _errors(run["create"]["codes"]) + _errors(run["balance"]["codes"]) for run, _ in mine
            ),
            "create_p50_ms": pct([x for run, _ in mine for x in run["create"]["lat"]], 50) * 1000,
            "balance_p50_ms": pct([x for run, _ in mine for x in run["balance"]["lat"]], 50) * 1000,
            "balance_cpu_ms": _cpu_ms(run["balance"] for run, _ in mine),
            "create_cpu_ms": _cpu_ms(run["create"] for run, _ in mine),
        }
    return out


def open_loop_latency(*, base_url, keys, rate, seconds, rounds, count, prefix):
    """Rounds of balance then create, each at `rate` requests/s on a fixed schedule; pooled percentiles."""
    api = Api(base_url)
    pooled = {"balance": [], "create": []}
    codes = {"balance": {}, "create": {}}
    late, tags = 0, []
    for r in range(rounds):
        for kind in ("balance", "create"):
            tag = f"{prefix}-r{r}"
            if kind == "create":
                tags.append(tag)
            send = api.balance if kind == "balance" else api.create
            result = open_loop(send, keys=keys, rate=rate, seconds=seconds, tag=tag)
            pooled[kind] += result["lat"]
            late += result["late_starts"]
            for code, n in result["codes"].items():
                codes[kind][str(code)] = codes[kind].get(str(code), 0) + n
            print(
                f"    round {r + 1} {kind}: p50 {pct(result['lat'], 50) * 1000:.0f} ms, "
                f"p99 {pct(result['lat'], 99) * 1000:.0f} ms",
                flush=True,
            )
    rows = sum(rows for rows, _ in count(tags))
    out = {"rate": rate, "seconds_each": seconds, "rounds": rounds, "late_starts": late, "created_rows": rows}
    for kind, lat in pooled.items():
        out[kind] = {
            "n": len(lat),
            "p50_ms": pct(lat, 50) * 1000,
            "p95_ms": pct(lat, 95) * 1000,
            "p99_ms": pct(lat, 99) * 1000,
            "max_ms": max(lat) * 1000 if lat else float("nan"),
            "codes": codes[kind],
        }
    return out


def hot_account(*, base_url, hot_key, spread_keys, conc, seconds, rounds, count, deadlocks):
    """`conc` clients creating on one account, against the same clients on `conc` accounts."""
    api = Api(base_url)
    before = deadlocks()
    runs = []
    for r in range(rounds):
        for kind, keys in (("spread", spread_keys[:conc]), ("hot", [hot_key])):
            tag = f"p3-{kind}-r{r}"
            result = closed_loop(api.create, keys=keys, conc=conc, seconds=seconds, tag=tag)
            runs.append({"kind": kind, "tag": tag, **result})
            print(
                f"    round {r + 1} {kind}: 2xx {result['ok'] / result['seconds']:.0f}/s, "
                f"codes {_codes(result['codes'])}",
                flush=True,
            )
    counted = count([run["tag"] for run in runs])
    out = {"conc": conc, "rounds": rounds, "deadlocks": deadlocks() - before}
    for kind in ("hot", "spread"):
        mine = [(run, counted[i]) for i, run in enumerate(runs) if run["kind"] == kind]
        codes = {}
        for run, _ in mine:
            for code, n in run["codes"].items():
                codes[str(code)] = codes.get(str(code), 0) + n
        out[kind] = {
            "debits_per_s": median([charges / run["seconds"] for run, (_rows, charges) in mine]),
            "codes": codes,
            "server_errors": sum(
                n for code, n in codes.items() if not code.isdigit() or code.startswith("5")
            ),
            "p50_ms": pct([x for run, _ in mine for x in run["lat"]], 50) * 1000,
            "p99_ms": pct([x for run, _ in mine for x in run["lat"]], 99) * 1000,
        }
    out["ratio"] = (
        out["hot"]["debits_per_s"] / out["spread"]["debits_per_s"] if out["spread"]["debits_per_s"] else 0
    )
    return out
