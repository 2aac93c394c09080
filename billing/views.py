"""Billing pages, the Stripe webhook, and the sandbox checkout. Thin: parse, call one service, render."""

import csv
import logging
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from catalog.money import usd_cents
from catalog.selectors import catalog_settings_get, credit_packs_active, models_for_pricing

from . import autotopup, payments, selectors, stripe_gateway, subscriptions
from .forms import AutoTopUpForm, LowBalanceAlertForm, TopUpForm
from .ledger_text import ledger_line
from .models import BillingSettings, LedgerKind, TopUpStatus
from .services import BillingError

logger = logging.getLogger("billing")

LEDGER_PAGE_SIZE = 25


def pricing(request):
    """The price list: every model's price, the credit packs, and the plans side by side."""
    return render(
        request,
        "billing/pricing.html",
        {
            "families": models_for_pricing(),
            "packs": credit_packs_active(),
            "settings": catalog_settings_get(),
            "plans": subscriptions.plans_for_sale(),
        },
    )


def _safe_next(url):
    """Return `url` if it is a path on this site (so a top-up can return the user there), else ""."""
    url = (url or "").strip()
    local = url.startswith("/") and not url.startswith("//") and "\\" not in url
    return url if local and url_has_allowed_host_and_scheme(url, allowed_hosts=set()) else ""


def _topup_form(data=None, *, initial=None):
    limits = BillingSettings.load()
    return TopUpForm(
        data, initial=initial, min_cents=limits.topup_min_cents, max_cents=limits.topup_max_cents
    )


def _billing_page(request, *, form, status=200):
    account = selectors.account_get(user=request.user)
    page = Paginator(selectors.ledger_for_account(account=account), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for entry in page:
        entry.line = ledger_line(entry)
    next_url = _safe_next(form["next"].value())
    packs = selectors.credit_packs_for_sale()
    # ?need=N (from the Generate page): suggest the smallest pack that covers the shortfall.
    need = request.GET.get("need", "")
    shortfall = int(need) - max(account.balance, 0) if need.isdigit() else 0
    suggested = next((p for p in packs if p.credits >= shortfall), packs[-1] if packs else None)
    context = {
        "account": account,
        "packs": packs,
        "suggested_pack": suggested if shortfall > 0 else None,
        "shortfall": shortfall,
        "form": form,
        "ledger_page": page,
        "next_url": next_url,
        "recent_topups": selectors.topups_for_account(account=account)[:5],
        "plans": subscriptions.plans_for_sale(),
        "subscription": subscriptions.subscription_current(account=account),
        "invoices": selectors.subscription_invoices_for_account(account=account)[:12],
        "grace_days": settings.ARTIO_PAST_DUE_GRACE_DAYS,
        "generation_kinds": {LedgerKind.GENERATION_CHARGE, LedgerKind.GENERATION_REFUND},
        "auto_topup_spent": usd_cents(
            autotopup.auto_topup_spent_cents(account_id=account.pk) if account.pk else 0
        ),
        "auto_topup_limit_usd": (
            Decimal(account.auto_topup_monthly_limit_cents).scaleb(-2)
            if account.auto_topup_monthly_limit_cents
            else None
        ),
    }
    return render(request, "billing/billing.html", context, status=status)


@login_required
@require_GET
def billing(request):
    form = _topup_form(initial={"next": _safe_next(request.GET.get("next"))})
    return _billing_page(request, form=form)


@login_required
@require_POST
def topup_start(request):
    form = _topup_form(request.POST)
    if not form.is_valid():
        return _billing_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        topup = payments.topup_create(
            user=request.user,
            pack_id=data.get("pack"),
            amount_cents=data.get("amount_cents"),
            next_url=_safe_next(data.get("next")),
            save_card=data.get("save_card", False),
        )
        success_url = (
            settings.ARTIO_PUBLIC_URL + reverse("billing-success") + "?session_id={CHECKOUT_SESSION_ID}"
        )
        cancel_url = settings.ARTIO_PUBLIC_URL + reverse("billing-cancel") + f"?topup={topup.public_id}"
        url = payments.topup_checkout_start(
            topup=topup, email=request.user.email, success_url=success_url, cancel_url=cancel_url
        )
    except BillingError as exc:
        form.add_error("pack" if data.get("pack") is not None else "amount", str(exc))
        return _billing_page(request, form=form, status=400)
    except stripe_gateway.GatewayError:
        messages.error(
            request, "We could not reach our payment provider. Nothing was charged; please try again."
        )
        return redirect("billing")
    # 303: the browser follows with a GET, to Stripe's hosted page (or the sandbox's).
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


@login_required
@require_POST
def auto_topup_settings(request):
    form = AutoTopUpForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect(reverse("billing") + "#auto-topup")
    data = form.cleaned_data
    try:
        autotopup.auto_topup_configure(
            user=request.user,
            enabled=data["enabled"],
            threshold=data.get("threshold") or 0,
            pack_id=data.get("pack"),
            monthly_limit_cents=int((data.get("monthly_limit") or 0) * 100),
        )
    except BillingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Automatic top-up is on." if data["enabled"] else "Automatic top-up is off."
        )
    return redirect(reverse("billing") + "#auto-topup")


@login_required
@require_POST
def low_balance_settings(request):
    form = LowBalanceAlertForm(request.POST)
    if form.is_valid():
        autotopup.low_balance_alert_set(user=request.user, threshold=form.cleaned_data.get("threshold"))
        messages.success(request, "Low-balance e-mail saved.")
    else:
        messages.error(request, " ".join(form.errors.get("threshold", [])))
    return redirect(reverse("billing") + "#auto-topup")


@login_required
@require_POST
def card_forget(request):
    autotopup.card_forget(user=request.user)
    messages.success(request, "The saved card is forgotten and automatic top-up is off.")
    return redirect(reverse("billing") + "#auto-topup")


@login_required
@require_GET
def nav_balance(request):
    """The header's balance figure alone: base.html swaps it in when the balance may have changed."""
    balance = selectors.account_nav_for_user(user_id=request.user.pk)
    response = HttpResponse(intcomma(balance[0] if balance else 0), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def key_spend(request):
    """Each API key's spend this calendar month (UTC) against its cap; the keys page loads it."""
    template = "billing/key_spend.html"
    if request.headers.get("HX-Request"):
        template += "#spend"
    return render(request, template, {"keys": selectors.key_spends_for_user(user=request.user)})


@login_required
@require_GET
def success(request):
    topup = selectors.topup_get_by_session_for_owner(
        user=request.user, session_id=request.GET.get("session_id", "")
    )
    topup = payments.topup_fulfil_from_stripe(topup=topup)
    if topup.status == TopUpStatus.PAID and topup.next_url:
        messages.success(request, f"{topup.credits:,} credits added. You can carry on where you left off.")
        return redirect(topup.next_url)
    return render(request, "billing/success.html", {"topup": topup})


@login_required
@require_GET
def cancel(request):
    topup = None
    if request.GET.get("topup"):
        topup = selectors.topup_get_for_owner(user=request.user, public_id=request.GET["topup"])
    return render(request, "billing/cancel.html", {"topup": topup})


@login_required
@require_GET
def receipt(request, public_id):
    topup = selectors.topup_get_for_owner(user=request.user, public_id=public_id)
    return render(request, "billing/receipt.html", {"topup": topup, "entries": topup.ledger.order_by("id")})


class _Echo:
    def write(self, value):
        return value


def _csv_cell(value):
    # A leading =, +, - or @ would run as a formula in a spreadsheet.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@login_required
@require_GET
def ledger_csv(request):
    account = selectors.account_get(user=request.user)
    writer = csv.writer(_Echo())

    base = settings.ARTIO_PUBLIC_URL.rstrip("/")

    # The same words as the billing page (billing.ledger_text): no staff notes, no internal references.
    def rows():
        yield writer.writerow(["date", "what", "credits", "balance", "link"])
        entries = selectors.ledger_for_account(account=account).iterator(chunk_size=1000)
        for entry in entries:
            line = ledger_line(entry)
            yield writer.writerow(
                [
                    entry.created_at.isoformat(),
                    _csv_cell(line.text),
                    entry.amount,
                    entry.balance_after,
                    f"{base}{line.link_url}" if line.link_url else "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="artio-ledger.csv"'
    return response


def _redirect_303(url):
    # 303: the browser follows with a GET, to Stripe's hosted page (or the sandbox's).
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


@login_required
def subscribe(request):
    """GET: confirm the plan (where every "needs Premium" link lands); POST: go to Stripe Checkout."""
    slug = request.POST.get("plan") if request.method == "POST" else request.GET.get("plan", "premium")
    plan = selectors.subscription_plan_for_sale(slug=slug or "")
    if request.method != "POST":
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        account = selectors.account_get(user=request.user)
        context = {
            "plan": plan,
            "account": account,
            "subscription": subscriptions.subscription_current(account=account),
        }
        return render(request, "billing/subscribe.html", context, status=200 if plan else 404)
    base = settings.ARTIO_PUBLIC_URL
    try:
        url = subscriptions.subscription_checkout_start(
            user=request.user,
            plan_slug=slug or "",
            success_url=base + reverse("billing-subscribed") + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=base + reverse("billing") + "#plans",
        )
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("billing") + "#plans")
    except stripe_gateway.GatewayError:
        messages.error(
            request, "We could not reach our payment provider. Nothing was charged; please try again."
        )
        return redirect(reverse("billing") + "#plans")
    return _redirect_303(url)


@login_required
@require_GET
def subscribed(request):
    messages.success(
        request,
        "Thank you for subscribing. Your plan and its monthly credits appear as soon as Stripe confirms.",
    )
    return redirect(reverse("billing") + "#subscription")


@login_required
@require_POST
def portal(request):
    try:
        url = subscriptions.portal_url(
            user=request.user, return_url=settings.ARTIO_PUBLIC_URL + reverse("billing")
        )
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect("billing")
    except stripe_gateway.GatewayError:
        messages.error(request, "We could not reach our payment provider; please try again.")
        return redirect("billing")
    return _redirect_303(url)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's events: verified on the raw body, stored once, applied in one transaction."""
    try:
        event = stripe_gateway.event_construct(
            payload=request.body, sig_header=request.headers.get("Stripe-Signature")
        )
    except stripe_gateway.InvalidEvent:
        return HttpResponse(status=400)
    try:
        payments.stripe_event_process(event=event)
    except Exception:  # the webhook boundary: record it; the 500 makes Stripe deliver again
        logger.exception("stripe event %s (%s) failed", event.get("id"), event.get("type"))
        return HttpResponse(status=500)
    return HttpResponse(status=200)


# --- Sandbox checkout: stands in for Stripe's hosted page when there is no Stripe key ----------------


def _sandbox_topup(request, public_id):
    if not stripe_gateway.is_sandbox():
        raise Http404
    return selectors.topup_get_for_owner(user=request.user, public_id=public_id)


@login_required
@require_GET
def sandbox_checkout(request, public_id):
    topup = _sandbox_topup(request, public_id)
    return render(request, "billing/sandbox_checkout.html", {"topup": topup})


@login_required
@require_POST
def sandbox_pay(request, public_id):
    topup = _sandbox_topup(request, public_id)
    if topup.status not in (TopUpStatus.CREATED, TopUpStatus.PENDING):
        messages.info(request, "This checkout is already closed.")
        return redirect("billing-receipt", public_id=topup.public_id)
    card = stripe_gateway.SANDBOX_CARD_DECLINES if request.POST.get("card") == "0341" else None
    status = payments.sandbox_checkout_pay(topup=topup, card=card or stripe_gateway.SANDBOX_CARD_OK)
    if status != 200:
        messages.warning(
            request, "The sandbox could not deliver the payment event to the webhook; checking directly."
        )
    return redirect(reverse("billing-success") + f"?session_id={topup.stripe_session_id}")


@login_required
@require_POST
def sandbox_cancel(request, public_id):
    topup = _sandbox_topup(request, public_id)
    payments.sandbox_checkout_cancel(topup=topup)
    return redirect(reverse("billing-cancel") + f"?topup={topup.public_id}")


# --- Sandbox subscriptions: Stripe's checkout and Customer Portal, simulated ------------------------


def _sandbox_only():
    if not stripe_gateway.is_sandbox():
        raise Http404


@login_required
@require_GET
def sandbox_subscribe(request, slug):
    _sandbox_only()
    plan = selectors.subscription_plan_for_sale(slug=slug)
    if plan is None:
        raise Http404
    return render(request, "billing/sandbox_subscribe.html", {"plan": plan})


@login_required
@require_POST
def sandbox_subscribe_pay(request, slug):
    _sandbox_only()
    try:
        statuses = subscriptions.sandbox_subscribe_pay(user=request.user, plan_slug=slug)
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect("billing")
    if any(status != 200 for status in statuses):
        messages.warning(request, "The sandbox could not deliver every event to the webhook.")
    return redirect(reverse("billing-subscribed") + "?session_id=sandbox")


@login_required
@require_GET
def sandbox_portal(request):
    _sandbox_only()
    account = selectors.account_get(user=request.user)
    context = {
        "subscription": subscriptions.subscription_current(account=account),
        "actions": subscriptions.SANDBOX_PORTAL_ACTIONS,
    }
    return render(request, "billing/sandbox_portal.html", context)


@login_required
@require_POST
def sandbox_portal_act(request, action):
    _sandbox_only()
    try:
        statuses = subscriptions.sandbox_portal_act(user=request.user, action=action)
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect("billing-sandbox-portal")
    if any(status != 200 for status in statuses):
        messages.warning(request, "The sandbox could not deliver every event to the webhook.")
    else:
        messages.success(request, f"Sandbox: {subscriptions.SANDBOX_PORTAL_ACTIONS[action]} — done.")
    return redirect("billing-sandbox-portal")
