"""Admin views of ops: the operator overview (HTML, and each of its tables as CSV)."""

import csv
import json
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from artio.errors import ArtioError
from billing.selectors import account_get
from catalog.models import AIModel
from catalog.money import usd_cents, usd_dollars

from . import charts
from .overview import PRESETS, PeriodInvalid, overview_build, period_from_params
from .trial import trial_input, trial_run

CSV_TABLES = ("models", "days", "revenue", "refunds", "alerts")


def _percent(share):
    if share is None:
        return "—"
    return f"{(share * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def _seconds(value):
    return "—" if value is None else f"{value:.1f} s"


def _credits(value):
    return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def _csv_cell(value):
    # Text that starts like a formula would run in a spreadsheet; numbers are written as numbers.
    text = "" if value is None else str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_rows(overview, table):
    if table == "models":
        yield [
            "model",
            "name",
            "generations",
            "succeeded",
            "failed",
            "success_rate",
            "median_seconds",
            "credits_charged",
            "credits_refunded",
            "revenue_usd",
            "kie_credits_billed",
            "kie_cost_usd",
            "cost_reported",
            "margin_usd",
        ]
        for row in [*overview.models, overview.total]:
            yield [
                row.slug or "TOTAL",
                row.name,
                row.generations,
                row.succeeded,
                row.failed,
                "" if row.success_rate is None else f"{row.success_rate:.4f}",
                "" if row.median_seconds is None else f"{row.median_seconds:.2f}",
                row.credits_charged,
                row.credits_refunded,
                f"{row.revenue_usd:.4f}",
                row.kie_credits,
                f"{row.kie_cost_usd:.6f}",
                row.cost_reported,
                f"{row.margin_usd:.4f}",
            ]
    elif table == "days":
        yield [
            "day",
            "generations",
            "succeeded",
            "failed",
            "kie_credits_billed",
            "kie_cost_usd",
            "topup_cents",
            "subscription_cents",
        ]
        for day in overview.days:
            yield [
                day.day.isoformat(),
                day.generations,
                day.succeeded,
                day.failed,
                day.kie_credits,
                f"{day.kie_cost_usd:.6f}",
                day.topup_cents,
                day.subscription_cents,
            ]
    elif table == "revenue":
        yield [
            "source",
            "payments",
            "gross_cents",
            "refunded_cents",
            "disputes",
            "disputed_cents",
            "net_cents",
        ]
        for row in [*overview.revenue, overview.revenue_total]:
            yield [
                row.label,
                row.payments,
                row.gross_cents,
                row.refunded_cents,
                row.disputes,
                row.disputed_cents,
                row.net_cents,
            ]
    elif table == "refunds":
        yield ["kind", "events", "credits"]
        for row in overview.ledger_events:
            yield [row.kind, row.events, row.credits]
    elif table == "alerts":
        yield ["opened_at", "kind", "subject", "message", "last_seen_at"]
        for alert in overview.alerts:
            yield [
                alert.opened_at.isoformat(),
                alert.kind,
                alert.subject,
                alert.message,
                alert.last_seen_at.isoformat(),
            ]


def _csv_response(overview, table):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    period = overview.period
    name = f"artio-{table}-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for row in _csv_rows(overview, table):
        writer.writerow([_csv_cell(value) for value in row])
    return response


def _model_view(row):
    return {
        "row": row,
        "success": _percent(row.success_rate),
        "meter": charts.meter(row.success_rate) if row.success_rate is not None else None,
        "median": _seconds(row.median_seconds),
        "revenue": usd_dollars(row.revenue_usd.quantize(Decimal("0.0001"))),
        "kie_credits": _credits(row.kie_credits),
        "kie_cost": usd_dollars(row.kie_cost_usd.quantize(Decimal("0.0001"))),
        "margin": usd_dollars(row.margin_usd.quantize(Decimal("0.0001"))),
        "margin_share": _percent(row.margin_share),
        "below_cost": row.margin_usd < 0,
    }


def _charts(overview):
    labels = [f"{day.day:%Y-%m-%d}" for day in overview.days]
    generations = [day.generations for day in overview.days]
    burn = [day.kie_credits for day in overview.days]
    revenue = [day.revenue_cents for day in overview.days]
    return {
        "generations": charts.bars(
            generations,
            labels=[f"{label}: {n} generations" for label, n in zip(labels, generations, strict=True)],
            summary=(
                f"Generations per day, {sum(generations):,} in all, "
                f"at most {max(generations, default=0):,} a day"
            ),
        ),
        "burn": charts.sparkline(
            burn, summary=f"KIE credits billed per day, at most {_credits(max(burn, default=0))} a day"
        ),
        "revenue": charts.bars(
            revenue,
            labels=[f"{label}: {usd_cents(c)}" for label, c in zip(labels, revenue, strict=True)],
            summary=f"Payments per day, at most {usd_cents(max(revenue, default=0))} a day",
        ),
    }


def overview_view(request, admin_site):
    """GET /admin/ops/overview/?period=today|7d|30d|custom&start=&end=[&format=csv&table=…]."""
    params = request.GET
    error = None
    try:
        period = period_from_params(params)
    except PeriodInvalid as exc:
        error = str(exc)
        period = period_from_params({})
    overview = overview_build(period)
    table = params.get("table", "")
    if params.get("format") == "csv" and table in CSV_TABLES and error is None:
        return _csv_response(overview, table)
    balance = overview.balance
    context = {
        **admin_site.each_context(request),
        "title": "Operator overview",
        "overview": overview,
        "error": error,
        "presets": list(PRESETS.items()),
        "params": {"period": period.preset, "start": params.get("start", ""), "end": params.get("end", "")},
        "csv_query": request.GET.urlencode(),
        "models": [_model_view(row) for row in overview.models],
        "total": _model_view(overview.total),
        "charts": _charts(overview),
        "revenue": [
            {
                "row": row,
                "gross": usd_cents(row.gross_cents),
                "refunded": usd_cents(row.refunded_cents),
                "disputed": usd_cents(row.disputed_cents),
                "net": usd_cents(row.net_cents),
            }
            for row in [*overview.revenue, overview.revenue_total]
        ],
        "balance": {
            "credits": None if balance.credits is None else _credits(balance.credits),
            "error": balance.error,
            "burn": _credits(balance.burn_per_day),
            "days_left": None if balance.days_left is None else f"{balance.days_left:,.1f}",
        },
    }
    return TemplateResponse(request, "ops/admin/overview.html", context)


# --- The catalogue's "test generation" ---------------------------------------------------------------


def _trial_data(text):
    try:
        data = json.loads(text or "{}")
    except ValueError as exc:
        raise ValueError(f"The input is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ValueError("The input must be a JSON object.")
    return data


def trial_view(request, admin_site, model_id):
    """GET: the input a test run of the model will send, editable. POST: run it once; link the result."""
    model = get_object_or_404(AIModel.objects.prefetch_related("prices"), pk=model_id)
    text = json.dumps(trial_input(model.input_schema), indent=2, ensure_ascii=False)
    error = None
    if request.method == "POST":
        text = request.POST.get("input", "")
        try:
            generation = trial_run(model=model, user=request.user, data=_trial_data(text))
        except ValueError as exc:
            error = str(exc)
        except ArtioError as exc:
            details = "; ".join(
                f"{k}: {', '.join(map(str, v))}"
                for k, v in (exc.details or {}).items()
                if isinstance(v, list)
            )
            error = exc.message + (f" ({details})" if details else "")
        else:
            messages.success(
                request,
                format_html(
                    "Test generation {} of {} queued and charged {} credits to your account. "
                    '<a href="{}">See the result</a> (or <a href="{}">in the admin</a>).',
                    generation.public_id,
                    model.slug,
                    generation.credits_charged,
                    generation.get_absolute_url(),
                    reverse("admin:generation_generation_change", args=[generation.pk]),
                ),
            )
            return redirect(reverse("admin:catalog_aimodel_change", args=[model.pk]))
    context = {
        **admin_site.each_context(request),
        "title": f"Test generation: {model.name}",
        "opts": AIModel._meta,
        "original": model,
        "model": model,
        "input_text": text,
        "error": error,
        "account": account_get(user=request.user),
        "prices": list(model.prices.all()),
    }
    return TemplateResponse(request, "ops/admin/trial.html", context, status=400 if error else 200)
