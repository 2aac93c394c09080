"""Daily reconciliation with KIE: what KIE billed against what the catalogue said, and what we charged.

For one UTC day (generations created that day, and KIE tasks with no generation first seen that
day) it asks KIE the bill of tasks not reported yet, compares each job with its price row
(`kie_credits` × images, at the price in force when the job was created), records every
`Mismatch` (idempotently: a re-run updates), and returns a per-model summary. `manage.py
reconcile` and the daily django-q2 schedule `ops-reconcile` (yesterday) call `reconcile_day`.
"""

import bisect
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.models import AIModel, PriceChange, PriceUnit
from catalog.money import usd_dollars
from catalog.selectors import catalog_settings_get
from generation.kietasks import kie_tasks_backfill
from generation.models import Generation, KieTask, Status

from .models import Mismatch, MismatchKind

logger = logging.getLogger("ops.reconcile")

ZERO = Decimal(0)
# KIE reports credits to 4 places at most; a smaller difference is rounding, not a mismatch.
TOLERANCE = Decimal("0.0001")
NO_GENERATION = "(no generation)"


def day_bounds(day):
    """Return the [start, end) of a UTC day as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def today_utc():
    return timezone.now().astimezone(UTC).date()


@dataclass
class ModelRow:
    """One model's day: jobs, what KIE billed and should have billed, what we charged and kept."""

    model: str
    jobs: int = 0
    failed: int = 0
    billed: Decimal = ZERO
    expected: Decimal = ZERO
    cost_usd: Decimal = ZERO
    charged: int = 0
    refunded: int = 0
    unreported: int = 0  # tasks whose bill KIE has not reported (still running, or unreachable)

    def add(self, other):
        for name in ("jobs", "failed", "billed", "expected", "cost_usd", "charged", "refunded", "unreported"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Found:
    """A mismatch found by this run, before it is saved."""

    kind: str
    subject: str
    amount_credits: Decimal
    amount_usd: Decimal
    detail: str
    generation_id: int | None = None
    model_id: int | None = None
    task_ids: list = field(default_factory=list)
    billed: Decimal = ZERO
    expected: Decimal = ZERO


@dataclass
class Report:
    day: date
    usd_per_credit: Decimal
    rows: dict = field(default_factory=dict)  # model slug → ModelRow
    found: list = field(default_factory=list)
    unresolved: int = 0
    kie_reads: int = 0
    kie_errors: int = 0

    @property
    def total(self):
        total = ModelRow("Total")
        for row in self.rows.values():
            total.add(row)
        return total

    def revenue_usd(self, row):
        """What the credits we kept (charged − refunded) are worth at the base retail rate."""
        return (row.charged - row.refunded) * self.usd_per_credit

    def margin_usd(self, row):
        return self.revenue_usd(row) - row.cost_usd


# --- What each job should have cost ----------------------------------------------------------


class PriceHistory:
    """KIE credits of each price row at any moment, from its change history (one query)."""

    def __init__(self, price_ids):
        self._changes = defaultdict(list)  # price id → [(changed_at, kie_credits)] oldest first
        rows = PriceChange.objects.filter(price_id__in=price_ids).order_by("changed_at", "id")
        for price_id, changed_at, kie_credits in rows.values_list(
            "price_id", "changed_at", "new_kie_credits"
        ):
            self._changes[price_id].append((changed_at, kie_credits))

    def kie_credits_at(self, price_id, when, current):
        changes = self._changes.get(price_id)
        if not changes:
            return current
        index = bisect.bisect_right([at for at, _ in changes], when) - 1
        # Before its first recorded change the first recorded value is the best we know.
        return changes[max(index, 0)][1]


def _rate(tasks, fallback):
    """Return the USD per KIE credit the tasks' costs were recorded at (else today's rate)."""
    billed = sum((t["credits_billed"] or ZERO for t in tasks), ZERO)
    cost = sum((t["cost_usd"] or ZERO for t in tasks), ZERO)
    return cost / billed if billed else fallback


# --- The comparison -----------------------------------------------------------------------------


def _job_tasks(job, tasks):
    """Return (own task, extra tasks) of a generation: its recorded task first, then the others."""
    own = next((t for t in tasks if t["task_id"] == job["kie_task_id"]), None)
    if own is None and job["kie_task_id"]:
        own = {
            "task_id": job["kie_task_id"],
            "credits_billed": job["kie_credits_billed"],
            "cost_usd": job["kie_cost_usd"],
        }
    if own is None and tasks:
        own = tasks[0]  # never recorded on the generation (cancelled while createTask ran)
    extra = [t for t in tasks if own is None or t["task_id"] != own["task_id"]]
    return own, extra


def _job_check(job, tasks, *, expected, rate, slug):
    """Return the mismatches of one generation."""
    own, extra = _job_tasks(job, tasks)
    found = []
    base = {"generation_id": job["pk"], "model_id": job["model_id"], "expected": expected}
    all_ids = [t["task_id"] for t in ([own] if own else []) + extra]
    billed = (own or {}).get("credits_billed")
    if billed is not None and job["status"] == Status.SUCCEEDED and billed > expected + TOLERANCE:
        over = billed - expected
        found.append(
            Found(
                MismatchKind.BILLED_OVER_PRICE,
                job["public_id"],
                over,
                over * rate,
                f"{slug}: KIE billed {_credits(billed)} credits, the price row says {_credits(expected)}.",
                task_ids=all_ids,
                billed=billed,
                **base,
            )
        )
    if billed and billed > TOLERANCE and (job["status"] == Status.FAILED or job["refunded"]):
        # The share of KIE's bill for what we gave back: all of it when the job failed.
        share = (
            Decimal(1)
            if job["status"] == Status.FAILED
            else Decimal(job["refunded_credits"]) / job["credits_charged"]
        )
        lost = billed * share
        what = (
            "failed"
            if job["status"] == Status.FAILED
            else f"refunded {job['refunded_credits']} of {job['credits_charged']} credits"
        )
        found.append(
            Found(
                MismatchKind.BILLED_FAILED_OR_REFUNDED,
                job["public_id"],
                lost,
                lost * rate,
                f"{slug}: KIE billed {_credits(billed)} credits for a job that {what}.",
                task_ids=all_ids,
                billed=billed,
                **base,
            )
        )
    if extra:
        extra_billed = sum((t["credits_billed"] or ZERO for t in extra), ZERO)
        unknown = sum(1 for t in extra if t["credits_billed"] is None)
        note = f" ({unknown} not reported yet)" if unknown else ""
        found.append(
            Found(
                MismatchKind.GENERATION_WITH_MANY_TASKS,
                job["public_id"],
                extra_billed,
                extra_billed * rate,
                f"{slug}: {len(all_ids)} KIE tasks for one job; "
                f"the extra ones billed {_credits(extra_billed)} credits{note}.",
                task_ids=all_ids,
                billed=extra_billed + (billed or ZERO),
                **base,
            )
        )
    return found


def _jobs(start, end):
    return Generation.objects.filter(created_at__gte=start, created_at__lt=end).values(
        "pk",
        "public_id",
        "model_id",
        "price_id",
        "price__kie_credits",
        "price__unit",
        "status",
        "refunded",
        "refunded_credits",
        "credits_charged",
        "images_requested",
        "created_at",
        "kie_task_id",
        "kie_credits_billed",
        "kie_cost_usd",
    )


def _tasks_by_generation(start, end):
    tasks = defaultdict(list)
    rows = KieTask.objects.filter(generation__created_at__gte=start, generation__created_at__lt=end)
    for task in rows.order_by("first_seen_at", "id").values(
        "generation_id", "task_id", "credits_billed", "cost_usd", "state"
    ):
        tasks[task["generation_id"]].append(task)
    return tasks


def compare(*, day, report):
    """Fill `report` with the day's per-model rows and the mismatches found (nothing saved)."""
    start, end = day_bounds(day)
    rate_now = catalog_settings_get().usd_per_kie_credit
    slugs = dict(AIModel.objects.values_list("pk", "slug"))
    jobs = list(_jobs(start, end))
    history = PriceHistory({job["price_id"] for job in jobs})
    tasks = _tasks_by_generation(start, end)
    for job in jobs:
        slug = slugs.get(job["model_id"], "?")
        row = report.rows.setdefault(slug, ModelRow(slug))
        job_tasks = tasks.get(job["pk"], [])
        own, extra = _job_tasks(job, job_tasks)
        unit_kie = history.kie_credits_at(job["price_id"], job["created_at"], job["price__kie_credits"])
        images = job["images_requested"] if job["price__unit"] == PriceUnit.PER_IMAGE else 1
        expected = unit_kie * images
        every = ([own] if own else []) + extra
        row.jobs += 1
        row.failed += job["status"] == Status.FAILED
        row.billed += sum((t["credits_billed"] or ZERO for t in every), ZERO)
        row.cost_usd += sum((t["cost_usd"] or ZERO for t in every), ZERO)
        row.unreported += sum(1 for t in every if t["credits_billed"] is None)
        row.expected += expected if job["status"] == Status.SUCCEEDED else ZERO
        row.charged += job["credits_charged"]
        row.refunded += job["refunded_credits"]
        rate = _rate(every, rate_now)
        report.found += _job_check(job, job_tasks, expected=expected, rate=rate, slug=slug)
    _orphans(start, end, report=report, rate_now=rate_now)


def _orphans(start, end, *, report, rate_now):
    orphans = KieTask.objects.filter(generation__isnull=True, first_seen_at__gte=start, first_seen_at__lt=end)
    row = None
    for task in orphans.order_by("id").values("task_id", "kie_model", "credits_billed", "cost_usd", "state"):
        row = row or report.rows.setdefault(NO_GENERATION, ModelRow(NO_GENERATION))
        billed = task["credits_billed"]
        row.billed += billed or ZERO
        row.cost_usd += task["cost_usd"] or ZERO
        row.unreported += billed is None
        said = f"billed {_credits(billed)} credits" if billed is not None else "has not reported its bill yet"
        report.found.append(
            Found(
                MismatchKind.TASK_WITHOUT_GENERATION,
                task["task_id"],
                billed or ZERO,
                task["cost_usd"] if task["cost_usd"] is not None else (billed or ZERO) * rate_now,
                f"KIE task {task['task_id']} ({task['kie_model'] or 'model unknown'}, "
                f"{task['state'] or 'state unknown'}) belongs to no generation; KIE {said}.",
                task_ids=[task["task_id"]],
                billed=billed or ZERO,
            )
        )


# --- Saving, idempotently -----------------------------------------------------------------------


@transaction.atomic
def mismatches_save(*, day, found):
    """Record the day's mismatches: update those found before, add new ones; return unresolved count.

    Staff's resolution (who, when, note) is never touched. An unresolved mismatch this run no
    longer finds (a task later linked to its generation) is removed; a resolved one stays.
    """
    seen = set()
    for item in found:
        seen.add((item.kind, item.subject))
        Mismatch.objects.update_or_create(
            day=day,
            kind=item.kind,
            subject=item.subject,
            defaults={
                "generation_id": item.generation_id,
                "model_id": item.model_id,
                "kie_task_ids": "\n".join(item.task_ids),
                "billed_credits": item.billed,
                "expected_credits": item.expected,
                "amount_credits": item.amount_credits,
                "amount_usd": item.amount_usd,
                "detail": item.detail[:300],
            },
        )
    for pk, kind, subject in Mismatch.objects.filter(day=day, resolved_at__isnull=True).values_list(
        "pk", "kind", "subject"
    ):
        if (kind, subject) not in seen:
            Mismatch.objects.filter(pk=pk, resolved_at__isnull=True).delete()
    return Mismatch.objects.filter(day=day, resolved_at__isnull=True).count()


# --- Entry points ---------------------------------------------------------------------------------


def reconcile_day(*, day, backfill=True, email=True, kie_read_limit=200, kie_read_seconds=None):
    """Reconcile one UTC day with KIE; return its Report (mismatches saved, staff e-mailed)."""
    report = Report(day=day, usd_per_credit=catalog_settings_get().usd_per_credit)
    if backfill:
        start, end = day_bounds(day)
        report.kie_reads, report.kie_errors = kie_tasks_backfill(
            start=start, end=end, limit=kie_read_limit, max_seconds=kie_read_seconds
        )
    compare(day=day, report=report)
    report.unresolved = mismatches_save(day=day, found=report.found)
    if email:
        summary_email(report)
    logger.info(
        "reconciled %s: %s mismatch(es) found, %s unresolved", day, len(report.found), report.unresolved
    )
    return report


def reconcile_scheduled():
    """The daily schedule's task: reconcile yesterday (UTC), which has ended; return a short summary."""
    # KIE reads stop after 30 s, inside django-q2's 60 s task timeout.
    report = reconcile_day(day=today_utc() - timedelta(days=1), kie_read_limit=100, kie_read_seconds=30)
    return {"day": report.day.isoformat(), "found": len(report.found), "unresolved": report.unresolved}


# --- The summary, printed and e-mailed ------------------------------------------------------------


def _credits(value):
    return f"{value.normalize():f}" if value else "0"


def summary_lines(report):
    """Return the summary table and the mismatch list as lines of plain text."""
    header = (
        "Model",
        "Jobs",
        "Failed",
        "KIE billed",
        "Expected",
        "KIE cost",
        "Charged",
        "Refunded",
        "Margin",
    )
    body = []
    for row in [*sorted(report.rows.values(), key=lambda r: r.model), report.total]:
        body.append(
            (
                row.model,
                str(row.jobs),
                str(row.failed),
                _credits(row.billed) + ("*" if row.unreported else ""),
                _credits(row.expected),
                usd_dollars(row.cost_usd),
                str(row.charged),
                str(row.refunded),
                usd_dollars(report.margin_usd(row)),
            )
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [f"Reconciliation with KIE for {report.day.isoformat()} (UTC)", "", fmt(header)]
    lines += [fmt(cells) for cells in body]
    lines.append("")
    lines.append(
        "KIE billed and cost: every KIE task of the day's jobs; expected: succeeded jobs at their price row;"
    )
    lines.append(
        "charged and refunded: Artio credits; margin: credits kept at the base retail rate − KIE cost."
    )
    if report.total.unreported:
        lines.append(f"* {report.total.unreported} task(s) whose bill KIE has not reported yet.")
    if report.kie_errors:
        lines.append(f"{report.kie_errors} KIE read(s) failed; run again later.")
    lines.append("")
    if not report.found:
        lines.append("No mismatch.")
    else:
        lines.append(f"{len(report.found)} mismatch(es), {report.unresolved} unresolved:")
        for item in report.found:
            lines.append(
                f"- {MismatchKind(item.kind).label}: {item.subject}: "
                f"{_credits(item.amount_credits)} KIE credits ({usd_dollars(item.amount_usd)}). {item.detail}"
            )
    return lines


def staff_emails():
    """Return who gets the summary: settings.ARTIO_STAFF_EMAILS when set, else every active staff user."""
    listed = getattr(settings, "ARTIO_STAFF_EMAILS", None)
    if listed:
        return list(listed)
    users = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return list(users.order_by("email").values_list("email", flat=True))


def summary_email(report):
    """E-mail staff the day's summary; return the number of recipients."""
    recipients = staff_emails()
    if not recipients:
        logger.warning("reconciliation for %s: no staff e-mail address to send the summary to", report.day)
        return 0
    state = f"{report.unresolved} unresolved mismatch(es)" if report.unresolved else "no unresolved mismatch"
    link = (
        settings.ARTIO_PUBLIC_URL
        + reverse("admin:ops_mismatch_changelist")
        + f"?day={report.day.isoformat()}"
    )
    body = "\n".join([*summary_lines(report), "", f"Resolve them in the admin: {link}"])
    send_mail(f"Artio: KIE reconciliation {report.day.isoformat()}: {state}", body, None, recipients)
    return len(recipients)
