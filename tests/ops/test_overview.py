"""The operator overview: figures per model and in total, money, the KIE balance, CSV, constant queries."""

import csv
import io
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import DisputeStatus, LedgerKind, TopUp, TopUpStatus
from billing.services import account_for_user, ledger_post
from generation.models import Generation, Status
from generation.selectors import kie_credit_balance
from ops import overview as ov
from ops import rollup
from ops.models import Alert, AlertKind

URL = "/admin/ops/overview/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(autouse=True)
def _balance(kie_sandbox, fresh_cache):
    """KIE's balance comes from the simulator (1,000,000 credits) over real HTTP."""
    return kie_sandbox


def test_url_is_the_named_admin_view_and_staff_only(client, alice, staff):
    assert reverse("admin:ops_overview") == URL
    assert client.get(URL).status_code == 302  # to the sign-in page
    client.force_login(alice)
    assert client.get(URL).status_code == 302
    client.force_login(staff)
    assert client.get(URL).status_code == 200


def test_admin_index_links_to_the_overview(staff_client):
    page = staff_client.get("/admin/").content.decode()
    assert f'href="{URL}"' in page


def test_period_presets_and_custom_dates():
    now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    today = ov.period_from_params({"period": "today"}, now=now)
    assert (today.start, today.end) == (datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert today.days(now) == Decimal(15) / Decimal(24)
    week = ov.period_from_params({}, now=now)
    assert week.preset == "7d" and week.first_day == date(2026, 11, 24) and len(week.day_list()) == 7
    custom = ov.period_from_params({"period": "custom", "start": "2026-10-01", "end": "2026-10-31"}, now=now)
    assert custom.days(now) == 31 and custom.last_day == date(2026, 10, 31)
    for bad in (
        {"period": "custom", "start": "2026-10-05", "end": "2026-10-01"},
        {"period": "custom", "start": "nope", "end": "2026-10-01"},
        {"period": "custom", "start": "2024-01-01", "end": "2026-10-01"},
        {"period": "year"},
    ):
        with pytest.raises(ov.PeriodInvalid):
            ov.period_from_params(bad, now=now)


def test_per_model_figures_margin_and_total(make_generations, settings):
    # imagen4-fast: 4 credits retail at $0.01 → $0.04 each; KIE billed 4 credits = $0.02 each.
    make_generations(3, seconds=10)
    make_generations(1, seconds=40)  # median of 10, 10, 10, 40 = 10
    make_generations(1, status=Status.FAILED, refunded=True, kie=Decimal(0), usd=Decimal(0))
    make_generations(2, slug="google/imagen4", seconds=20, kie=Decimal("8.5"), usd=Decimal("0.0425"))
    make_generations(1, slug="google/imagen4", status=Status.RUNNING, kie=None)
    make_generations(5, age=timedelta(days=40))  # outside the last 7 days

    overview = ov.overview_build(ov.period_from_params({"period": "7d"}))
    rows = {row.slug: row for row in overview.models}
    fast, std = rows["google/imagen4-fast"], rows["google/imagen4"]
    assert (fast.generations, fast.succeeded, fast.failed) == (5, 4, 1)
    assert fast.success_rate == Decimal("0.8")
    # Medians come from 1-second buckets below two minutes (ops/rollup.py): within 1 s.
    assert fast.median_seconds == pytest.approx(10.0, abs=1)
    assert (fast.credits_charged, fast.credits_refunded) == (20, 4)
    assert fast.revenue_usd == Decimal("0.16")
    assert fast.kie_cost_usd == Decimal("0.08")
    assert fast.margin_usd == Decimal("0.08")
    assert (std.generations, std.cost_reported, std.succeeded, std.failed) == (3, 2, 2, 0)
    assert std.median_seconds == pytest.approx(20.0, abs=1)
    assert std.kie_credits == Decimal("17")
    assert overview.total.generations == 8
    assert overview.total.kie_cost_usd == fast.kie_cost_usd + std.kie_cost_usd
    assert overview.total.margin_usd == fast.margin_usd + std.margin_usd
    assert sum(day.generations for day in overview.days) == 8
    assert len(overview.days) == 7


def test_median_of_an_odd_and_even_count(make_generations):
    for seconds in (5, 7, 100):
        make_generations(1, seconds=seconds)
    rows = {r.slug: r for r in ov.overview_build(ov.period_from_params({})).models}
    assert rows["google/imagen4-fast"].median_seconds == pytest.approx(7.0, abs=1)
    make_generations(1, seconds=9)
    rows = {r.slug: r for r in ov.overview_build(ov.period_from_params({})).models}
    assert rows["google/imagen4-fast"].median_seconds == pytest.approx(8.0, abs=1)


def _paid_topup(account, *, cents, credits, refunded=0, dispute="", when=None):
    return TopUp.objects.create(
        public_id=f"tu_{TopUp.objects.count() + 1}",
        account=account,
        description="test",
        amount_cents=cents,
        credits=credits,
        usd_per_credit=Decimal("0.01"),
        status=TopUpStatus.PAID,
        paid_at=when or timezone.now() - timedelta(hours=2),
        refunded_cents=refunded,
        dispute_status=dispute,
        dispute_id="dp_1" if dispute else "",
    )


def test_revenue_refunds_and_disputes(alice):
    account = account_for_user(user=alice)
    _paid_topup(account, cents=2500, credits=2500)
    _paid_topup(account, cents=1000, credits=1000, refunded=400)
    _paid_topup(account, cents=500, credits=500, dispute=DisputeStatus.OPEN)
    _paid_topup(account, cents=700, credits=700, dispute=DisputeStatus.WON)
    _paid_topup(account, cents=9900, credits=9900, when=timezone.now() - timedelta(days=60))
    ledger_post(account_id=account.pk, amount=-400, kind=LedgerKind.REFUND_CLAWBACK, reference="refund:2:400")

    overview = ov.overview_build(ov.period_from_params({"period": "30d"}))
    topups = overview.revenue[0]
    assert (topups.payments, topups.gross_cents, topups.refunded_cents) == (4, 4700, 400)
    assert (topups.disputes, topups.disputed_cents) == (2, 500)
    assert topups.net_cents == 3800
    assert overview.revenue_total.net_cents == 3800
    events = {e.kind: e for e in overview.ledger_events}
    assert (events[LedgerKind.REFUND_CLAWBACK].events, events[LedgerKind.REFUND_CLAWBACK].credits) == (
        1,
        -400,
    )
    assert sum(day.topup_cents for day in overview.days) == 4700


def test_balance_burn_rate_and_days_left(make_generations, kie_sandbox):
    kie_sandbox.credits = Decimal("1000")
    # 7 days × 24 h burn: 70 KIE credits billed in the period → 10 a day over 7 full days.
    now = timezone.now()
    make_generations(7, kie=Decimal("10"), age=timedelta(days=3))
    period = ov.period_from_params({"period": "custom", "start": str((now - timedelta(days=6)).date()),
                                    "end": str((now - timedelta(days=0)).date())})  # fmt: skip
    overview = ov.overview_build(period, now=period.end)
    assert overview.balance.credits == Decimal("1000")
    assert overview.balance.burn_per_day == Decimal("10")
    assert overview.balance.days_left == Decimal("100")


def test_page_shows_tables_charts_balance_and_alerts(staff_client, make_generations):
    make_generations(3)
    make_generations(1, status=Status.FAILED, refunded=True)
    Alert.objects.create(
        kind=AlertKind.KIE_BALANCE_LOW, message="KIE credit balance 12.0: low", last_seen_at=timezone.now()
    )
    response = staff_client.get(URL, {"period": "30d"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Imagen 4 Fast" in page or "google/imagen4-fast" in page
    assert "75.0 %" in page  # 3 of 4 succeeded
    assert "1,000,000.00" in page  # the simulator's balance
    assert "KIE credit balance 12.0: low" in page
    assert "finished days as summed at" in page and "today live" in page
    assert page.count("<svg") >= 4  # three charts and a success meter
    assert "style=" not in page.split('id="ops-overview"')[1]
    assert "<script" not in page.split('id="ops-overview"')[1]


def test_bad_custom_dates_say_so(staff_client):
    response = staff_client.get(URL, {"period": "custom", "start": "2026-10-05", "end": "2026-10-01"})
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


@pytest.mark.parametrize("table", ["models", "days", "revenue", "refunds", "alerts"])
def test_every_table_exports_as_csv(staff_client, make_generations, table):
    make_generations(2)
    response = staff_client.get(URL, {"period": "7d", "format": "csv", "table": table})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2 or table == "alerts"
    if table == "models":
        assert rows[0][0] == "model"
        assert rows[1][:3] == ["google/imagen4-fast", rows[1][1], "2"]
        assert rows[-1][0] == "TOTAL"
    if table == "days":
        assert len(rows) == 8


def test_csv_defuses_formulas(staff_client):
    Alert.objects.create(
        kind=AlertKind.MODEL_FAILING, subject="x", message="=HYPERLINK(1)", last_seen_at=timezone.now()
    )
    response = staff_client.get(URL, {"format": "csv", "table": "alerts"})
    assert "'=HYPERLINK(1)" in response.content.decode()


def _queries(client, params):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL, params).status_code == 200
    return len(ctx.captured_queries)


def test_constant_queries_at_10_and_many_generations(staff_client, make_generations, alice):
    make_generations(10)
    _paid_topup(account_for_user(user=alice), cents=1000, credits=1000)
    _queries(staff_client, {"period": "30d"})  # warm: sessions, the cached KIE balance
    few = _queries(staff_client, {"period": "30d"})
    for days in range(30):
        make_generations(
            20,
            age=timedelta(days=days, hours=1),
            slug="google/imagen4" if days % 2 else "google/imagen4-fast",
        )
        make_generations(3, status=Status.FAILED, refunded=True, age=timedelta(days=days, hours=2))
    for _ in range(5):
        _paid_topup(account_for_user(user=alice), cents=500, credits=500)
    _reroll_closed_days(30)  # the warm request rolled those days before the rows above existed
    many = _queries(staff_client, {"period": "30d"})
    assert many == few
    assert few <= 20
    period = ov.period_from_params({"period": "30d"})
    in_period = Generation.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    assert ov.overview_build(period).total.generations == in_period.count() > 10 + 29 * 20


def _reroll_closed_days(count):
    """Roll the last `count` finished days again, as the nightly job or `manage.py ops_rollup` would."""
    yesterday = rollup.today_utc() - timedelta(days=1)
    rollup.rollup_days(yesterday - timedelta(days=count - 1), yesterday)


@pytest.mark.postgres
def test_constant_queries_at_100000_generations_on_postgresql(
    staff_client, make_generations, django_assert_max_num_queries
):
    make_generations(10)
    _queries(staff_client, {"period": "30d"})
    few = _queries(staff_client, {"period": "30d"})
    # 29 days back at most, so every row is inside "the last 30 days" whatever the time of day.
    rows = int(os.environ.get("OPS_PG_ROWS", "100000"))
    for days in range(29):
        make_generations(
            rows // 29 + (days < rows % 29), age=timedelta(days=days, minutes=1), seconds=5 + days % 7
        )
    _reroll_closed_days(29)  # the rollup of the seeded closed days, as production keeps it
    kie_credit_balance()  # cached for a minute, as it was for `few`; seeding took longer than that
    with django_assert_max_num_queries(few):
        response = staff_client.get(URL, {"period": "30d"})
    assert response.status_code == 200
    overview = ov.overview_build(ov.period_from_params({"period": "30d"}))
    assert overview.total.generations == rows + 10
