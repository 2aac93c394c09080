"""The operator's overview: what the business did in a period, in a fixed number of queries.

Generations are read from the per-day rollup (ops/rollup.py: finished days, per model, with a histogram
of durations for the median) and, for today only, live: one read of the rolled days, one of the rollup,
one GROUP BY (model, day) and one duration histogram over today's rows. Then one GROUP BY day each for
top-ups and subscription invoices, one over the ledger's refund and dispute rows, and a few small reads
(settings, open alerts, paused models, unresolved mismatches). KIE's credit balance comes from
generation's cached client call. A closed day missing from the rollup is rolled first (a few more
statements, once).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import DisputeStatus, InvoiceStatus, LedgerEntry, LedgerKind, SubscriptionInvoice, TopUp
from billing.models import TopUpStatus as PaidStatus
from catalog.models import AIModel
from catalog.selectors import catalog_settings_get
from generation.selectors import kie_credit_balance

from . import rollup
from .models import Alert, ModelDay

PRESETS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom dates"}
DEFAULT_PRESET = "7d"
MAX_CUSTOM_DAYS = 366
# Burn per day is measured over at least an hour, so "today" at 00:05 does not read as a huge rate.
MIN_BURN_DAYS = Decimal(1) / Decimal(24)


class PeriodInvalid(ValueError):
    """The chosen dates make no period; the message is fit for staff."""


@dataclass(frozen=True)
class Period:
    preset: str
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    first_day: date
    last_day: date

    @property
    def label(self):
        if self.first_day == self.last_day:
            return f"{PRESETS[self.preset]}: {self.first_day:%Y-%m-%d} (UTC)"
        return f"{PRESETS[self.preset]}: {self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d} (UTC)"

    def days(self, now):
        """Return the period's elapsed length in days (Decimal), at least an hour."""
        seconds = (min(self.end, now) - self.start).total_seconds()
        return max(Decimal(str(seconds)) / Decimal(86400), MIN_BURN_DAYS)

    def day_list(self):
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=UTC)


def _parse_day(value, label):
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise PeriodInvalid(f"The {label} date must be a date (YYYY-MM-DD).") from None


def period_from_params(params, *, now=None):
    """Return the Period a query string asks for (?period=today|7d|30d|custom&start=&end=), in UTC days."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    preset = params.get("period") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise PeriodInvalid("Choose a period: today, the last 7 or 30 days, or custom dates.")
    if preset == "custom":
        first = _parse_day(params.get("start"), "start")
        last = _parse_day(params.get("end"), "end")
        if last < first:
            raise PeriodInvalid("The end date is before the start date.")
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise PeriodInvalid(f"Choose at most {MAX_CUSTOM_DAYS} days.")
    else:
        span = {"today": 1, "7d": 7, "30d": 30}[preset]
        first, last = today - timedelta(days=span - 1), today
    return Period(preset, _midnight(first), _midnight(last + timedelta(days=1)), first, last)


# --- Rows -------------------------------------------------------------------------------------------


def _ratio(part, whole):
    return None if not whole else Decimal(part) / Decimal(whole)


@dataclass
class ModelRow:
    """One model's figures for the period (or the total row, `slug` empty)."""

    slug: str = ""
    name: str = "Total"
    generations: int = 0
    succeeded: int = 0
    failed: int = 0
    credits_charged: int = 0
    credits_refunded: int = 0
    kie_credits: Decimal = Decimal(0)
    kie_cost_usd: Decimal = Decimal(0)
    cost_reported: int = 0
    median_seconds: float | None = None
    usd_per_credit: Decimal = Decimal(0)

    def add(self, other):
        for name in _CELL_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def success_rate(self):
        """Succeeded / finished (succeeded + failed); jobs still running do not count yet."""
        return _ratio(self.succeeded, self.succeeded + self.failed)

    @property
    def credits_net(self):
        return self.credits_charged - self.credits_refunded

    @property
    def revenue_usd(self):
        """What the credits kept (charged − refunded) are worth at the base retail rate."""
        return Decimal(self.credits_net) * self.usd_per_credit

    @property
    def margin_usd(self):
        return self.revenue_usd - self.kie_cost_usd

    @property
    def margin_share(self):
        return None if not self.revenue_usd else self.margin_usd / self.revenue_usd


@dataclass
class DayRow:
    day: date
    generations: int = 0
    succeeded: int = 0
    failed: int = 0
    kie_credits: Decimal = Decimal(0)
    kie_cost_usd: Decimal = Decimal(0)
    topup_cents: int = 0
    subscription_cents: int = 0

    @property
    def revenue_cents(self):
        return self.topup_cents + self.subscription_cents


@dataclass
class RevenueRow:
    """Payments made in the period, and what was refunded or disputed on them since."""

    label: str
    payments: int = 0
    gross_cents: int = 0
    refunded_cents: int = 0
    disputes: int = 0
    disputed_cents: int = 0  # open or lost disputes: money Stripe holds or took back

    def add(self, other):
        for name in ("payments", "gross_cents", "refunded_cents", "disputes", "disputed_cents"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def net_cents(self):
        return self.gross_cents - self.refunded_cents - self.disputed_cents


@dataclass
class LedgerEventRow:
    """Refund and dispute events recorded in the period (whenever the payment was made)."""

    kind: str
    label: str
    events: int = 0
    credits: int = 0


@dataclass
class Balance:
    credits: Decimal | None
    error: str | None
    burn_per_day: Decimal
    days_left: Decimal | None


@dataclass
class Overview:
    period: Period
    models: list[ModelRow]
    total: ModelRow
    days: list[DayRow]
    revenue: list[RevenueRow]
    revenue_total: RevenueRow
    ledger_events: list[LedgerEventRow]
    balance: Balance
    alerts: list = field(default_factory=list)
    paused_models: list = field(default_factory=list)
    unresolved_mismatches: int | None = None
    built_at: datetime | None = None
    rolled_at: datetime | None = None  # the oldest roll-up of a closed day shown; today is live


# --- Queries ----------------------------------------------------------------------------------------


_CELL_FIELDS = (
    "generations",
    "succeeded",
    "failed",
    "credits_charged",
    "credits_refunded",
    "kie_credits",
    "kie_cost_usd",
    "cost_reported",
)


def _generation_figures(period, now):
    """Return ([per (model, day) cell], {model_id: duration histogram}, rolled_at) for the period,
    rolled_at being when the oldest closed day of the period was rolled up (None: no closed day).

    Finished days come from the rollup (rolled first if missing, see ops/rollup.py); today, and
    any day after it, is summed live from the generations.
    """
    rolled_at = rollup.rollup_missing(period.first_day, period.last_day, now=now)
    live_from = max(period.start, _midnight(rollup.today_utc(now)))
    cells, histograms = [], {}
    for row in ModelDay.objects.filter(
        day__gte=period.first_day, day__lte=period.last_day, day__lt=live_from.date()
    ).values("model_id", "day", "durations", *_CELL_FIELDS):
        cells.append(row)
        # Summed on the stored (string) keys: a plain dict is the cheapest per bucket.
        histogram = histograms.setdefault(row["model_id"], {})
        for index, count in row["durations"].items():
            histogram[index] = histogram.get(index, 0) + count
    live_to = max(period.end, live_from)
    cells.extend(rollup.generation_cells(live_from, live_to))
    for (model_id, _day), live in rollup.duration_histograms(live_from, live_to).items():
        histogram = histograms.setdefault(model_id, {})
        for index, count in live.items():
            histogram[str(index)] = histogram.get(str(index), 0) + count
    return (
        cells,
        {
            model_id: {int(index): count for index, count in histogram.items()}
            for model_id, histogram in histograms.items()
        },
        rolled_at,
    )


def _payments_by_day(queryset, period):
    """One GROUP BY day over paid payments (top-ups or invoices) in the period."""
    open_or_lost = [DisputeStatus.OPEN, DisputeStatus.LOST]
    return (
        queryset.filter(paid_at__gte=period.start, paid_at__lt=period.end)
        .annotate(day=TruncDate("paid_at", tzinfo=UTC))
        .values("day")
        .annotate(
            payments=Count("id"),
            gross=Sum("amount_cents"),
            refunded=Sum("refunded_cents"),
            disputes=Count("id", filter=~Q(dispute_status="")),
            disputed=Sum("amount_cents", filter=Q(dispute_status__in=open_or_lost)),
        )
        .order_by()
    )


LEDGER_EVENT_KINDS = (LedgerKind.REFUND_CLAWBACK, LedgerKind.DISPUTE_CLAWBACK, LedgerKind.DISPUTE_REVERSAL)


def _ledger_events(period):
    found = {
        row["kind"]: row
        for row in LedgerEntry.objects.filter(
            kind__in=LEDGER_EVENT_KINDS, created_at__gte=period.start, created_at__lt=period.end
        )
        .values("kind")
        .annotate(events=Count("id"), credits=Sum("amount"))
        .order_by()
    }
    labels = dict(LedgerKind.choices)
    return [
        LedgerEventRow(
            kind=kind,
            label=labels[kind],
            events=found.get(kind, {}).get("events", 0),
            credits=found.get(kind, {}).get("credits") or 0,
        )
        for kind in LEDGER_EVENT_KINDS
    ]


def unresolved_mismatches_count():
    """Return how many reconciliation mismatches are unresolved, or None where reconciliation is absent.

    The Mismatch model belongs to reconciliation (ops/reconcile.py); it is looked up by name so this
    module works with or without it, and resolved rows are recognised by the field it has.
    """
    try:
        mismatch = apps.get_model("ops", "Mismatch")
    except LookupError:
        return None
    names = {f.name for f in mismatch._meta.get_fields()}
    if "resolved_at" in names:
        return mismatch.objects.filter(resolved_at__isnull=True).count()
    if "resolved" in names:
        return mismatch.objects.filter(resolved=False).count()
    return mismatch.objects.count()


def burn_rate(*, kie_credits, days):
    """KIE credits billed per day."""
    return (Decimal(kie_credits or 0) / days) if days else Decimal(0)


def days_left(*, balance, burn_per_day):
    if balance is None or not burn_per_day:
        return None
    return max(Decimal(balance), Decimal(0)) / burn_per_day


# --- Assembly ---------------------------------------------------------------------------------------


def _model_rows(cells, histograms, usd_per_credit, days_by_date):
    names = {pk: (slug, name) for pk, slug, name in AIModel.objects.values_list("pk", "slug", "name")}
    by_model = {}
    for cell in cells:
        row = by_model.get(cell["model_id"])
        if row is None:
            row = by_model[cell["model_id"]] = ModelRow(
                slug=names[cell["model_id"]][0],
                name=names[cell["model_id"]][1],
                median_seconds=rollup.median_from_histogram(histograms.get(cell["model_id"], {})),
                usd_per_credit=usd_per_credit,
            )
        part = ModelRow(**{name: cell[name] or 0 for name in _CELL_FIELDS})
        row.add(part)
        day = days_by_date.get(cell["day"])
        if day is not None:
            day.generations += part.generations
            day.succeeded += part.succeeded
            day.failed += part.failed
            day.kie_credits += part.kie_credits
            day.kie_cost_usd += part.kie_cost_usd
    return sorted(by_model.values(), key=lambda r: (-r.generations, r.slug))


def _revenue(period, days_by_date):
    rows = []
    sources = (
        ("Top-ups", TopUp.objects.filter(status=PaidStatus.PAID), "topup_cents"),
        (
            "Subscriptions",
            SubscriptionInvoice.objects.filter(status=InvoiceStatus.PAID),
            "subscription_cents",
        ),
    )
    for label, queryset, day_field in sources:
        row = RevenueRow(label=label)
        for cell in _payments_by_day(queryset, period):
            row.add(
                RevenueRow(
                    label=label,
                    payments=cell["payments"],
                    gross_cents=cell["gross"] or 0,
                    refunded_cents=cell["refunded"] or 0,
                    disputes=cell["disputes"],
                    disputed_cents=cell["disputed"] or 0,
                )
            )
            day = days_by_date.get(cell["day"])
            if day is not None:
                setattr(day, day_field, getattr(day, day_field) + (cell["gross"] or 0))
        rows.append(row)
    total = RevenueRow(label="Total")
    for row in rows:
        total.add(row)
    return rows, total


def _balance(total_kie_credits, period, now):
    credits, error = kie_credit_balance()
    burn = burn_rate(kie_credits=total_kie_credits, days=period.days(now))
    return Balance(
        credits=credits,
        error=error,
        burn_per_day=burn,
        days_left=days_left(balance=credits, burn_per_day=burn),
    )


def overview_build(period, *, now=None):
    """Return the Overview of `period`: a fixed number of queries whatever the volume."""
    now = now or timezone.now()
    usd_per_credit = catalog_settings_get().usd_per_credit
    days = [DayRow(day=day) for day in period.day_list()]
    days_by_date = {row.day: row for row in days}
    cells, histograms, rolled_at = _generation_figures(period, now)
    models = _model_rows(cells, histograms, usd_per_credit, days_by_date)
    total = ModelRow(usd_per_credit=usd_per_credit)
    for row in models:
        total.add(row)
    revenue, revenue_total = _revenue(period, days_by_date)
    return Overview(
        period=period,
        models=models,
        total=total,
        days=days,
        revenue=revenue,
        revenue_total=revenue_total,
        ledger_events=_ledger_events(period),
        balance=_balance(total.kie_credits, period, now),
        alerts=list(Alert.objects.filter(resolved_at__isnull=True).order_by("-opened_at")[:50]),
        paused_models=list(
            AIModel.objects.filter(is_active=False)
            .exclude(paused_reason="")
            .select_related("use_instead")
            .order_by("sort_order", "slug")
        ),
        unresolved_mismatches=unresolved_mismatches_count(),
        built_at=now,
        rolled_at=rolled_at,
    )
