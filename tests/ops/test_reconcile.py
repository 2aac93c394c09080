"""`manage.py reconcile` over jobs the pipeline really ran against the KIE simulator over HTTP."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from generation import pipeline, services
from generation.kie import KieClient, kie_client
from generation.models import Generation, KieTask, Status
from ops.models import Mismatch, MismatchKind
from ops.reconcile import today_utc
from tests.pipeline_helpers import run_until_terminal

from ..generation.conftest import read, wait_for

FAST = "google/imagen4-fast"  # KIE price row: 4 credits per image; retail 4 credits per image
GROK = "grok-imagine/text-to-image"  # KIE price row: 8 credits per task of 6 images
USD_PER_KIE_CREDIT = Decimal("0.005")  # the seed's CatalogSettings


def create(user, prompt="a red fox in snow", slug=FAST, **extra):
    return services.generation_create(user=user, model_slug=slug, data={"prompt": prompt, **extra})


def reconcile(capsys, *args):
    """Run the command; return (exit code, what it printed)."""
    try:
        call_command("reconcile", "--date", today_utc().isoformat(), *args)
    except CommandError as exc:
        return exc.returncode, capsys.readouterr().out
    return 0, capsys.readouterr().out


def mismatches():
    return {(m.kind, m.subject): m for m in Mismatch.objects.all()}


@pytest.mark.django_db
def test_a_clean_day_reports_no_mismatch_and_exits_0(alice, staff, fund, kie, tasks, capsys):
    # given: three jobs KIE billed exactly at their price rows: 2 images, a task of 6, and a failure
    fund(alice, 100, plan="standard")
    two = run_until_terminal(create(alice, num_images=2))
    grok = run_until_terminal(create(alice, slug=GROK))
    failed = run_until_terminal(create(alice, prompt="sandbox:fail please"))
    # then: each job keeps KIE's bill and its cost at the rate in force
    assert (two.status, two.kie_credits_billed, two.kie_cost_usd) == (
        Status.SUCCEEDED,
        Decimal(8),
        8 * USD_PER_KIE_CREDIT,
    )
    assert grok.kie_credits_billed == Decimal(8)
    assert (failed.status, failed.kie_credits_billed, failed.kie_cost_usd) == (Status.FAILED, 0, 0)
    assert KieTask.objects.filter(generation=two, task_id=two.kie_task_id, credits_billed=8).exists()
    # when
    code, out = reconcile(capsys)
    # then
    assert code == 0
    assert "No mismatch." in out
    assert Mismatch.objects.count() == 0
    [imagen] = [line for line in out.splitlines() if line.startswith(FAST)]
    # jobs 2, failed 1, KIE billed 8 = expected 8 (the failure billed and expected 0), cost $0.04,
    # charged 12, refunded 4, margin 8 credits × $0.01 − $0.04
    assert imagen.split() == [FAST, "2", "1", "8", "8", "$0.04", "12", "4", "$0.04"]
    [total] = [line for line in out.splitlines() if line.startswith("Total")]
    assert total.split()[3:6] == ["16", "16", "$0.08"]
    # and staff got the summary
    [message] = mail.outbox
    assert message.to == [staff.email]
    assert "no unresolved mismatch" in message.subject and "No mismatch." in message.body


@pytest.mark.django_db
def test_kie_billing_more_than_the_price_row_is_a_mismatch_until_staff_resolve_it(
    alice, staff, fund, kie, tasks, capsys, client, settings
):
    # given: KIE bills 10 credits for an image its price row says costs 4
    fund(alice, 20)
    kie.bill_next(Decimal("10.5"))
    generation = run_until_terminal(create(alice))
    assert generation.status == Status.SUCCEEDED and generation.kie_credits_billed == Decimal("10.5")
    # when
    code, out = reconcile(capsys)
    # then: exit 1, one mismatch for 6.5 credits over, at $0.005 each
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.subject, found.generation) == (
        MismatchKind.BILLED_OVER_PRICE,
        generation.public_id,
        generation,
    )
    assert (found.billed_credits, found.expected_credits) == (Decimal("10.5"), Decimal(4))
    assert (found.amount_credits, found.amount_usd) == (Decimal("6.5"), Decimal("0.0325"))
    assert found.kie_task_ids == generation.kie_task_id
    assert "KIE billed more than the price row" in out and generation.public_id in out
    assert "1 unresolved mismatch" in mail.outbox[0].subject
    # when: run again, nothing is added
    assert reconcile(capsys, "--no-email")[0] == 1
    assert Mismatch.objects.count() == 1
    # when: staff resolve it with a note in the admin
    client.force_login(staff)
    link = mail.outbox[0].body.split("Resolve them in the admin: ")[1].strip()
    listed = client.get(link.removeprefix(settings.ARTIO_PUBLIC_URL)).content.decode()
    assert generation.public_id in listed and "6.5" in listed
    url = f"/admin/ops/mismatch/{found.pk}/change/"
    refused = client.post(url, {"resolved": "on", "resolution_note": ""})
    assert refused.status_code == 200 and "Say how it was resolved." in refused.content.decode()
    client.post(url, {"resolved": "on", "resolution_note": "Claimed 6.5 credits back from KIE support."})
    found.refresh_from_db()
    assert found.resolved_by == staff and found.resolved_at is not None
    # then: the day is clean, and a re-run keeps the resolution
    code, out = reconcile(capsys, "--no-email")
    assert code == 0
    found.refresh_from_db()
    assert found.resolved_by == staff and found.resolution_note.startswith("Claimed")


@pytest.mark.django_db
def test_kie_billing_a_failed_task_is_a_mismatch(alice, fund, kie, tasks, capsys):
    # given: the task fails (the user is refunded) but KIE bills it anyway
    fund(alice, 20)
    kie.fail_next(state="fail", fail_code="500", fail_msg="Internal server error")
    kie.bill_next(4)
    generation = run_until_terminal(create(alice))
    assert generation.status == Status.FAILED and generation.refunded_credits == 4
    assert generation.kie_credits_billed == 4
    # when
    code, out = reconcile(capsys, "--no-email")
    # then
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.subject) == (MismatchKind.BILLED_FAILED_OR_REFUNDED, generation.public_id)
    assert (found.amount_credits, found.amount_usd) == (Decimal(4), Decimal("0.02"))
    assert "KIE billed a failed or refunded job" in out


def kill_after_kie_accepts(monkeypatch):
    """Make the next createTask reach KIE, then kill the worker before it records the task id."""
    real = KieClient.create_task

    def accepted_then_killed(self, **kwargs):
        monkeypatch.setattr(KieClient, "create_task", real)
        real(self, **kwargs)
        raise SystemExit("worker killed while the createTask reply was in flight")

    monkeypatch.setattr(KieClient, "create_task", accepted_then_killed)


@pytest.mark.django_db(transaction=True)
def test_one_generation_sent_to_kie_twice_is_a_mismatch_with_the_extra_bill(
    alice, fund, kie, tasks, live_server, settings, monkeypatch, capsys
):
    # given: the app is served, so KIE's callbacks reach it
    settings.ARTIO_PUBLIC_URL = live_server.url
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    # when: KIE accepts a slow task and the worker dies before recording its id ...
    kie.set_latency(2.5)
    kill_after_kie_accepts(monkeypatch)
    with pytest.raises(SystemExit):
        pipeline.generations_dispatch(max_seconds=5)
    [first] = list(kie.tasks)
    # ... and no callback came within the grace period, so it is sent again (a fast task)
    kie.set_latency(0.05, 0.2)
    past = timezone.now() - timedelta(seconds=pipeline.SENDING_GRACE_SECONDS + 1)
    Generation.objects.filter(pk=generation.pk).update(sending_at=past, claimed_until=past)
    tasks.run = True
    pipeline.generations_dispatch(max_seconds=5)
    wait_for(lambda: Generation.objects.get(pk=generation.pk).status == Status.SUCCEEDED)
    generation = read(lambda: Generation.objects.get(pk=generation.pk))
    assert generation.kie_task_id != first and generation.possible_duplicate_sends == 1
    # then: the first task's late callback is refused, but KIE's bill for it is kept
    wait_for(lambda: KieTask.objects.filter(task_id=first, credits_billed__isnull=False).exists(), timeout=15)
    assert read(lambda: KieTask.objects.get(task_id=first).generation_id) == generation.pk
    # when
    # the callback's request (which ran the check in-process) has finished before the command writes
    wait_for(lambda: any(c["task_id"] == first and c.get("status") == 400 for c in kie.callbacks))
    code, out = reconcile(capsys, "--no-email")
    # then: one mismatch, the extra task's 4 credits; the job's own bill matched its price
    assert code == 1
    found = mismatches()
    assert set(found) == {(MismatchKind.GENERATION_WITH_MANY_TASKS, generation.public_id)}
    [many] = found.values()
    assert (many.amount_credits, many.amount_usd) == (Decimal(4), Decimal("0.02"))
    assert (many.billed_credits, many.expected_credits) == (Decimal(8), Decimal(4))
    assert set(many.kie_task_ids.split()) == {first, generation.kie_task_id}
    [imagen] = [line for line in out.splitlines() if line.startswith(FAST)]
    assert imagen.split()[3:6] == ["8", "4", "$0.04"]


@pytest.mark.django_db
def test_a_callback_for_a_task_no_generation_has_is_kept_and_reconciled(client, kie, tasks, capsys):
    # given: a task on our KIE account that no generation sent (a script, another environment)
    task_id = kie_client().create_task(model=FAST, input={"prompt": "x", "num_images": "2"})
    wait_for(lambda: kie.tasks[task_id].due < time.time())
    body = {"code": 200, "msg": "ok", "data": {"taskId": task_id, "creditsConsumed": 1}}
    # when: its callback reaches a URL of no generation
    response = client.post("/generation/kie/callback/not-a-token/", body, content_type="application/json")
    # then: 404 as before, but KIE's own record of the task is kept (not the body's claim)
    assert response.status_code == 404
    task = KieTask.objects.get(task_id=task_id)
    assert (task.generation, task.credits_billed, task.state) == (None, Decimal(8), "success")
    # and a second callback asks KIE nothing more
    client.post("/generation/kie/callback/not-a-token/", body, content_type="application/json")
    assert len(tasks.named("generation.tasks.kie_task_check")) == 1
    # when
    code, out = reconcile(capsys, "--no-email")
    # then
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.subject, found.amount_credits) == (
        MismatchKind.TASK_WITHOUT_GENERATION,
        task_id,
        Decimal(8),
    )
    assert found.amount_usd == Decimal("0.04")
    assert "(no generation)" in out


@pytest.mark.django_db
def test_a_callback_for_a_task_kie_does_not_know_keeps_nothing(client, kie, tasks):
    body = {"code": 200, "data": {"taskId": "f" * 32}}
    response = client.post("/generation/kie/callback/not-a-token/", body, content_type="application/json")
    assert response.status_code == 404
    assert not KieTask.objects.exists()


@pytest.mark.django_db
def test_an_unsigned_callback_for_no_generation_is_ignored_when_kie_signs_callbacks(
    client, kie, tasks, settings
):
    settings.KIE_WEBHOOK_HMAC_KEY = "secret"
    body = {"code": 200, "data": {"taskId": "a" * 32}}
    client.post("/generation/kie/callback/not-a-token/", body, content_type="application/json")
    assert tasks.named("generation.tasks.kie_task_check") == []


@pytest.mark.django_db
def test_reconcile_asks_kie_for_bills_it_never_read(alice, fund, kie, tasks, capsys):
    # given: the job was cancelled while its KIE task ran, so the pipeline never read KIE's bill
    fund(alice, 20)
    tasks.run = False
    generation = create(alice)
    kie.set_latency(0.3)
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    services.generation_cancel(generation_id=generation.pk)
    wait_for(lambda: kie.tasks[generation.kie_task_id].state == "success" or kie_done(kie, generation))
    assert KieTask.objects.get(task_id=generation.kie_task_id).credits_billed is None
    # when: reconciliation reads it
    code, _out = reconcile(capsys, "--no-email")
    # then: KIE billed a job we refunded in full
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.amount_credits) == (MismatchKind.BILLED_FAILED_OR_REFUNDED, Decimal(4))
    assert KieTask.objects.get(task_id=generation.kie_task_id).credits_billed == 4


def kie_done(kie, generation):
    kie_client().record_info(task_id=generation.kie_task_id)  # the simulator advances tasks when read
    return kie.tasks[generation.kie_task_id].state == "success"


@pytest.mark.django_db
def test_the_summary_goes_to_the_listed_staff_addresses(alice, staff, fund, kie, tasks, capsys, settings):
    settings.ARTIO_STAFF_EMAILS = ["ops@example.com", "cfo@example.com"]
    code, _ = reconcile(capsys)
    assert code == 0
    assert mail.outbox[0].to == ["ops@example.com", "cfo@example.com"]


@pytest.mark.django_db
def test_a_bad_date_is_a_clear_error():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile", "--date", "yesterday")


@pytest.mark.django_db
def test_the_daily_schedule_reconciles_yesterday(alice, fund, kie, tasks):
    from django_q.models import Schedule

    from ops.reconcile import reconcile_scheduled

    schedule = Schedule.objects.get(name="ops-reconcile")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "ops.reconcile.reconcile_scheduled",
        Schedule.DAILY,
        -1,
    )
    # given: yesterday's job that KIE over-billed
    fund(alice, 20)
    kie.bill_next(5)
    generation = run_until_terminal(create(alice))
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(days=1))
    # when
    summary = reconcile_scheduled()
    # then
    assert summary == {"day": (today_utc() - timedelta(days=1)).isoformat(), "found": 1, "unresolved": 1}
    assert Mismatch.objects.get().day == today_utc() - timedelta(days=1)


@pytest.mark.django_db
def test_staff_see_kie_bill_cost_and_realised_margin_on_a_generation(alice, staff, fund, kie, tasks, client):
    fund(alice, 20)
    kie.bill_next(3)
    generation = run_until_terminal(create(alice, num_images=2))
    client.force_login(staff)
    page = client.get(f"/admin/generation/generation/{generation.pk}/change/").content.decode()
    assert "KIE credits billed" in page and "3.0000" in page
    # 8 credits kept at $0.01 = $0.08, minus 3 KIE credits at $0.005 = $0.015 (to a hundredth of a cent)
    assert "$0.0650: 8 credits kept (8 charged − 0 refunded), worth $0.08, − KIE cost $0.0150" in page
    assert generation.kie_task_id in page  # the KIE tasks inline


@pytest.mark.django_db
def test_kie_billing_images_it_did_not_deliver_is_the_refunded_share(alice, fund, kie, tasks, capsys):
    # given: 2 images paid for and billed by KIE, 1 delivered, so half the charge was refunded
    fund(alice, 20)
    kie.max_result_images = 1
    generation = run_until_terminal(create(alice, num_images=2))
    assert generation.status == Status.SUCCEEDED and generation.refunded_credits == 4
    # when
    code, _out = reconcile(capsys, "--no-email")
    # then: the refunded half of KIE's 8 credits
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.amount_credits, found.amount_usd) == (
        MismatchKind.BILLED_FAILED_OR_REFUNDED,
        Decimal(4),
        Decimal("0.02"),
    )


@pytest.mark.django_db
def test_each_job_is_compared_with_its_price_row_as_it_stood_when_the_job_was_created(
    alice, staff, fund, kie, tasks, capsys
):
    from catalog.models import Price
    from catalog.services import price_update

    price = Price.objects.get(model__slug=FAST, variant="")
    # given: staff had lowered the KIE price to 3 before the job; KIE still bills 4
    price_update(price=price, kie_credits=Decimal(3), changed_by=staff)
    fund(alice, 20)
    generation = run_until_terminal(create(alice))
    assert generation.kie_credits_billed == 4
    # and put it back to 4 afterwards
    price.refresh_from_db()
    price_update(price=price, kie_credits=Decimal(4), changed_by=staff)
    # when
    code, _out = reconcile(capsys, "--no-email")
    # then: the job is judged by the price of its time
    assert code == 1
    [found] = Mismatch.objects.all()
    assert (found.kind, found.expected_credits, found.amount_credits) == (
        MismatchKind.BILLED_OVER_PRICE,
        Decimal(3),
        Decimal(1),
    )
