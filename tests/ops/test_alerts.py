"""Alerts: KIE balance low or short of days, a model failing (and paused), deduplicated while open, mailed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from catalog.models import AIModel
from generation.models import Status
from ops.alerts import alerts_check
from ops.models import Alert, AlertKind, AlertSettings


@pytest.fixture(autouse=True)
def _kie(kie_sandbox, fresh_cache, staff):
    """KIE answers from the simulator; one staff member receives the e-mails."""
    return kie_sandbox


def _settings(**values):
    conf = AlertSettings.load()
    for name, value in values.items():
        setattr(conf, name, value)
    conf.save()
    return conf


def test_schedule_runs_the_check_every_five_minutes():
    schedule = Schedule.objects.get(name="ops-alerts-check")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("ops.tasks.alerts_check", "I", 5)


def test_a_healthy_business_raises_nothing(make_generations):
    make_generations(20)
    assert alerts_check()["found"] == 0
    assert not Alert.objects.exists() and not mail.outbox


def test_balance_below_threshold_opens_one_alert_mailed_once_and_closes(kie_sandbox, staff):
    _settings(kie_balance_threshold=Decimal("5000"))
    kie_sandbox.credits = Decimal("1200")
    summary = alerts_check()
    assert summary["opened"] == 1 and summary["mailed"] == 1
    alert = Alert.objects.get()
    assert alert.kind == AlertKind.KIE_BALANCE_LOW and alert.is_open and alert.emailed_at
    assert "1,200.0" in alert.message and "below the threshold of 5,000" in alert.message
    assert mail.outbox[0].to == [staff.email]
    assert "KIE balance low" in mail.outbox[0].subject
    assert reverse("admin:ops_overview") in mail.outbox[0].body

    # Still low at the next check: the same alert, refreshed, not mailed again.
    from django.core.cache import cache

    cache.clear()
    kie_sandbox.credits = Decimal("1100")
    assert alerts_check()["opened"] == 0
    alert.refresh_from_db()
    assert Alert.objects.count() == 1 and "1,100.0" in alert.message and len(mail.outbox) == 1

    # Topped up: closed; a later drop is a new alert and a new e-mail.
    cache.clear()
    kie_sandbox.credits = Decimal("900000")
    assert alerts_check()["resolved"] == 1
    alert.refresh_from_db()
    assert not alert.is_open
    cache.clear()
    kie_sandbox.credits = Decimal("10")
    alerts_check()
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1 and len(mail.outbox) == 2


def test_balance_lasting_fewer_days_than_the_minimum(kie_sandbox, make_generations):
    _settings(kie_balance_threshold=Decimal("0"), kie_min_days=Decimal("3"))
    kie_sandbox.credits = Decimal("2000")
    # 7,000 KIE credits billed over the last 7 days: 1,000 a day, so 2,000 lasts 2 days.
    make_generations(7, kie=Decimal("1000"), age=timedelta(days=2))
    alerts_check()
    alert = Alert.objects.get(kind=AlertKind.KIE_BALANCE_LOW)
    assert "about 2.0 days at 1,000.0 credits a day" in alert.message


def test_unknown_balance_neither_raises_nor_closes(kie_sandbox):
    _settings(kie_balance_threshold=Decimal("5000"))
    kie_sandbox.credits = Decimal("10")
    alerts_check()
    from django.core.cache import cache

    cache.clear()
    kie_sandbox.fail_next(500, "down", endpoint="credit", times=5)
    alerts_check()
    assert Alert.objects.get(kind=AlertKind.KIE_BALANCE_LOW).is_open


def test_failing_model_alerts_above_the_rate_with_enough_jobs(make_generations):
    _settings(failure_rate_percent=50, failure_min_jobs=10)
    make_generations(4, status=Status.FAILED, refunded=True, age=timedelta(minutes=10))
    make_generations(4, age=timedelta(minutes=10))
    alerts_check()
    assert not Alert.objects.exists()  # 8 jobs: under the minimum
    make_generations(2, status=Status.FAILED, refunded=True, age=timedelta(minutes=5))
    alerts_check()
    alert = Alert.objects.get(kind=AlertKind.MODEL_FAILING)
    assert alert.subject == "google/imagen4-fast" and "6 of 10 jobs failed in the last hour" in alert.message
    assert AIModel.objects.get(slug="google/imagen4-fast").is_active  # auto-pause is off


def test_cancellations_and_old_failures_do_not_count(make_generations):
    _settings(failure_rate_percent=50, failure_min_jobs=2)
    make_generations(
        5, status=Status.FAILED, refunded=True, error_code="cancelled_by_user", age=timedelta(minutes=5)
    )
    make_generations(5, status=Status.FAILED, refunded=True, age=timedelta(hours=3))
    make_generations(2, age=timedelta(minutes=5))
    alerts_check()
    assert not Alert.objects.filter(kind=AlertKind.MODEL_FAILING).exists()


def test_auto_pause_points_users_to_the_model_to_use_instead(make_generations, client, alice, kie_sandbox):
    _settings(failure_rate_percent=50, failure_min_jobs=3, auto_pause=True)
    fast = AIModel.objects.get(slug="google/imagen4-fast")
    fast.use_instead = AIModel.objects.get(slug="google/imagen4")
    fast.save(update_fields=["use_instead"])
    make_generations(3, status=Status.FAILED, refunded=True, age=timedelta(minutes=5))
    alerts_check()
    fast.refresh_from_db()
    assert not fast.is_active and fast.paused_reason
    assert "Paused automatically" in Alert.objects.get(kind=AlertKind.MODEL_FAILING).message

    client.force_login(alice)
    page = client.get("/generate/", {"model": "google/imagen4-fast"}).content.decode()
    assert "Imagen 4 Fast is paused" in page or f"{fast.name} is paused" in page
    assert "google/imagen4" in page and "instead" in page

    from billing.services import account_for_user, balance_adjust

    balance_adjust(account_id=account_for_user(user=alice).pk, amount=100, reason="test")
    from artio.services import api_key_create

    _key, raw = api_key_create(user=alice, name="t")
    response = client.post(
        "/api/v1/generations",
        {"model": "google/imagen4-fast", "input": {"prompt": "a cat"}},
        content_type="application/json",
        headers={"authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "model_paused" and "Use Imagen 4" in body["message"]


def test_reactivating_in_the_admin_clears_the_reason(client, staff):
    from tests.catalog.test_admin import model_form_data

    fast = AIModel.objects.get(slug="google/imagen4-fast")
    AIModel.objects.filter(pk=fast.pk).update(is_active=False, paused_reason="Failing")
    fast.refresh_from_db()
    client.force_login(staff)
    data = model_form_data(fast, is_active="on", paused_reason="Failing")
    response = client.post(reverse("admin:catalog_aimodel_change", args=[fast.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    fast.refresh_from_db()
    assert fast.is_active and fast.paused_reason == ""


def test_open_mismatches_are_an_alert_when_reconciliation_exists(monkeypatch):
    import ops.alerts

    monkeypatch.setattr(ops.alerts, "unresolved_mismatches_count", lambda: 3)
    alerts_check()
    assert "3 reconciliation mismatches" in Alert.objects.get(kind=AlertKind.MISMATCHES).message
    monkeypatch.setattr(ops.alerts, "unresolved_mismatches_count", lambda: 0)
    alerts_check()
    assert not Alert.objects.get(kind=AlertKind.MISMATCHES).is_open


def test_only_one_open_alert_per_subject():
    from django.db import IntegrityError, transaction

    now = timezone.now()
    Alert.objects.create(kind=AlertKind.MODEL_FAILING, subject="a", message="x", last_seen_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(kind=AlertKind.MODEL_FAILING, subject="a", message="y", last_seen_at=now)
    Alert.objects.update(resolved_at=now)
    Alert.objects.create(kind=AlertKind.MODEL_FAILING, subject="a", message="z", last_seen_at=now)


def test_settings_admin_opens_the_one_row(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:ops_alertsettings_changelist"))
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "pause failing models automatically" in page.lower()
    assert client.get(reverse("admin:ops_alert_changelist")).status_code == 200
