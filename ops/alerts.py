"""Alerts: KIE's balance running low, a model failing, reconciliation mismatches left open.

`alerts_check` (django-q2 schedule `ops-alerts-check`, every 5 minutes; `manage.py alerts_check` by
hand) looks at each condition. An alert is opened once per (kind, subject) while the condition holds,
e-mailed to staff when it opens, refreshed (`last_seen_at`, its message) on later checks, and closed
(`resolved_at`) by the first check that no longer sees it; a later recurrence is a new alert and a new
e-mail. With "pause failing models automatically" on, a failing model is made inactive with a reason,
and users who reach it are pointed to its "use instead" model (catalog.selectors.model_paused_notice).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from artio.memo import memo_bump
from catalog.models import AIModel
from catalog.selectors import CATALOG
from generation.models import TERMINAL_STATUSES, Generation, Status
from generation.selectors import kie_credit_balance

from .models import Alert, AlertKind, AlertSettings
from .overview import burn_rate, days_left, unresolved_mismatches_count

logger = logging.getLogger(__name__)

BURN_WINDOW_DAYS = 7
FAILURE_WINDOW = timedelta(hours=1)
# Cancelled by their owner or by staff: not the model's failure.
NOT_MODEL_FAILURES = ("cancelled_by_user", "cancelled")


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    message: str


# --- Conditions -------------------------------------------------------------------------------------


def kie_burn_per_day(*, now):
    """KIE credits billed per day over the last BURN_WINDOW_DAYS days."""
    billed = Generation.objects.filter(created_at__gte=now - timedelta(days=BURN_WINDOW_DAYS)).aggregate(
        total=Sum("kie_credits_billed")
    )["total"]
    return burn_rate(kie_credits=billed, days=Decimal(BURN_WINDOW_DAYS))


def balance_findings(*, conf, now):
    balance, error = kie_credit_balance()
    if balance is None:
        logger.warning("alerts: KIE's credit balance is unavailable: %s", error)
        return None  # unknown: neither raise nor close the balance alert
    burn = kie_burn_per_day(now=now)
    left = days_left(balance=balance, burn_per_day=burn)
    reasons = []
    if balance < conf.kie_balance_threshold:
        reasons.append(f"below the threshold of {conf.kie_balance_threshold:,.0f}")
    if left is not None and left < conf.kie_min_days:
        reasons.append(
            f"about {left:.1f} days at {burn:,.1f} credits a day (minimum {conf.kie_min_days} days)"
        )
    if not reasons:
        return []
    message = f"KIE credit balance {balance:,.1f}: " + "; ".join(reasons) + ". Top up the KIE account."
    return [Finding(AlertKind.KIE_BALANCE_LOW, "", message)]


def failing_models(*, conf, now):
    """Return [(model_id, slug, name, failed, finished)] over the threshold in the last hour."""
    rows = (
        Generation.objects.filter(completed_at__gte=now - FAILURE_WINDOW, status__in=TERMINAL_STATUSES)
        .exclude(error_code__in=NOT_MODEL_FAILURES)
        .values("model_id", "model__slug", "model__name")
        .annotate(finished=Count("id"), failed=Count("id", filter=Q(status=Status.FAILED)))
        .filter(finished__gte=conf.failure_min_jobs)
        .order_by("model__slug")
    )
    return [
        (row["model_id"], row["model__slug"], row["model__name"], row["failed"], row["finished"])
        for row in rows
        if row["failed"] * 100 >= conf.failure_rate_percent * row["finished"]
    ]


def model_pause(*, model_id, reason):
    """Make a model inactive with a reason users are shown; return True if this paused it."""
    paused = AIModel.objects.filter(pk=model_id, is_active=True).update(is_active=False, paused_reason=reason)
    if paused:
        memo_bump(CATALOG)  # quotes and charges read models from memory
    return bool(paused)


def model_findings(*, conf, now):
    findings = []
    for model_id, slug, name, failed, finished in failing_models(conf=conf, now=now):
        message = f"{name} ({slug}): {failed} of {finished} jobs failed in the last hour."
        if conf.auto_pause and model_pause(model_id=model_id, reason="failing often at KIE at the moment"):
            message += " Paused automatically; reactivate it in the catalogue when it works again."
        findings.append(Finding(AlertKind.MODEL_FAILING, slug, message))
    return findings


def mismatch_findings():
    count = unresolved_mismatches_count()
    if not count:
        return []
    noun = "mismatch" if count == 1 else "mismatches"
    return [Finding(AlertKind.MISMATCHES, "", f"{count} reconciliation {noun} with KIE unresolved.")]


# --- Recording and mailing --------------------------------------------------------------------------


def alert_record(finding, *, now):
    """Open an alert for `finding`, or refresh the open one; return the alert if it is new."""
    updated = Alert.objects.filter(
        kind=finding.kind, subject=finding.subject, resolved_at__isnull=True
    ).update(message=finding.message[:500], last_seen_at=now)
    if updated:
        return None
    try:
        with transaction.atomic():
            return Alert.objects.create(
                kind=finding.kind, subject=finding.subject, message=finding.message[:500], last_seen_at=now
            )
    except IntegrityError:
        return None  # another check opened it just now (unique while open)


def alerts_resolve_absent(findings, *, now, kinds):
    """Close the open alerts of `kinds` that this check no longer found."""
    seen = Q(pk__in=[])
    for finding in findings:
        seen |= Q(kind=finding.kind, subject=finding.subject)
    return (
        Alert.objects.filter(resolved_at__isnull=True, kind__in=kinds).exclude(seen).update(resolved_at=now)
    )


def staff_emails():
    users = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return list(users.order_by("pk").values_list("email", flat=True))


def alerts_mail(alerts, *, now):
    """E-mail staff the newly opened alerts, once."""
    recipients = staff_emails()
    if not alerts or not recipients:
        return 0
    lines = [f"- {alert.get_kind_display()}: {alert.message}" for alert in alerts]
    overview_url = settings.ARTIO_PUBLIC_URL.rstrip("/") + reverse("admin:ops_overview")
    send_mail(
        subject=f"Artio alert: {alerts[0].get_kind_display()}"
        + (f" and {len(alerts) - 1} more" if len(alerts) > 1 else ""),
        message="\n".join(["New alerts:", "", *lines, "", f"The operator overview: {overview_url}"]) + "\n",
        from_email=None,
        recipient_list=recipients,
    )
    Alert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(emailed_at=now)
    return len(alerts)


def alerts_check(*, now=None):
    """Look at every condition once; open, refresh and close alerts; mail new ones. Return a summary."""
    now = now or timezone.now()
    conf = AlertSettings.load()
    balance = balance_findings(conf=conf, now=now)
    kinds = [kind for kind in AlertKind.values if balance is not None or kind != AlertKind.KIE_BALANCE_LOW]
    findings = [*(balance or []), *model_findings(conf=conf, now=now), *mismatch_findings()]
    opened = [alert for alert in (alert_record(f, now=now) for f in findings) if alert is not None]
    resolved = alerts_resolve_absent(findings, now=now, kinds=kinds)
    mailed = alerts_mail(opened, now=now)
    summary = {"found": len(findings), "opened": len(opened), "resolved": resolved, "mailed": mailed}
    if opened:
        logger.warning("alerts opened: %s", "; ".join(alert.message for alert in opened))
    return summary
