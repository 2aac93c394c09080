"""Staff tools: accounts with adjust / freeze / unfreeze actions; the money records read-only."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

from artio.admin_base import ReadOnlyAdmin
from catalog.money import usd_cents

from . import services
from .forms import AdjustBalanceForm, ReasonForm
from .models import (
    Account,
    BillingSettings,
    LedgerEntry,
    StripeEvent,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
    TopUp,
)


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    fk_name = "account"
    fields = ["created_at", "kind", "amount", "balance_after", "reference", "description", "created_by"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # created_by is shown on every row: one join, not a query per row.
        return super().get_queryset(request).select_related("created_by")


def _action_form(modeladmin, request, queryset, *, form_class, action, title, apply):
    """Render an intermediate form for an action; on a valid POST call `apply(account, data)` per row."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        done = 0
        for account in queryset:
            message = apply(account, form.cleaned_data)
            if message:
                modeladmin.log_change(request, account, message)
                done += 1
        modeladmin.message_user(request, f"{title}: {done} account(s) changed.", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "billing/admin/action_form.html", context)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["user", "balance", "plan", "frozen", "created_at"]
    list_filter = ["plan", "frozen", "frozen_cause"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = [
        "user",
        "balance",
        "plan",
        "frozen",
        "frozen_reason",
        "frozen_cause",
        "stripe_customer_id",
        "created_at",
    ]
    # The balance changes only through ledger rows (the actions below); freezing needs a reason.
    readonly_fields = [
        "user", "balance", "frozen", "frozen_reason", "frozen_cause", "stripe_customer_id", "created_at",
    ]  # fmt: skip
    inlines = [LedgerInline]
    actions = ["adjust_balance", "freeze", "unfreeze"]

    def has_add_permission(self, request):
        return False  # accounts are opened by billing.services.account_for_user

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Adjust balance (writes an adjustment ledger row)")
    def adjust_balance(self, request, queryset):
        def apply(account, data):
            entry = services.balance_adjust(
                account_id=account.pk, amount=data["amount"], reason=data["reason"], created_by=request.user
            )
            return f"Adjusted balance by {entry.amount:+d} → {entry.balance_after}: {data['reason']}"

        return _action_form(
            self, request, queryset, form_class=AdjustBalanceForm, action="adjust_balance",
            title="Adjust balance", apply=apply,
        )  # fmt: skip

    @admin.action(description="Freeze (cannot spend or buy)")
    def freeze(self, request, queryset):
        def apply(account, data):
            if services.account_freeze(account_id=account.pk, reason=data["reason"]):
                return f"Frozen: {data['reason']}"
            return None

        return _action_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            action="freeze",
            title="Freeze accounts",
            apply=apply,
        )

    @admin.action(description="Unfreeze")
    def unfreeze(self, request, queryset):
        def apply(account, data):
            if services.account_unfreeze(account_id=account.pk, reason=data["reason"]):
                return f"Unfrozen: {data['reason']}"
            return None

        return _action_form(
            self, request, queryset, form_class=ReasonForm, action="unfreeze", title="Unfreeze accounts",
            apply=apply,
        )  # fmt: skip


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "created_by",
    ]
    list_filter = ["kind"]
    search_fields = ["reference", "account__user__email", "description"]
    list_select_related = ["account__user", "created_by"]
    date_hierarchy = "created_at"


class ProblemFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "problem"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(problem="")
        if self.value() == "no":
            return queryset.filter(problem="")
        return queryset


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id", "created_at", "account", "amount_display", "credits", "status",
        "refunded_cents", "dispute_status", "problem",
    ]  # fmt: skip
    list_filter = ["status", "dispute_status", ProblemFilter]
    search_fields = [
        "public_id", "account__user__email", "stripe_session_id", "stripe_payment_intent_id",
        "stripe_charge_id", "dispute_id",
    ]  # fmt: skip
    list_select_related = ["account__user"]
    date_hierarchy = "created_at"

    @admin.display(description="amount", ordering="amount_cents")
    def amount_display(self, obj):
        return f"{usd_cents(obj.amount_cents)} {obj.currency.upper()}"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "livemode", "received_at"]
    list_filter = ["type", "livemode"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"


@admin.register(BillingSettings)
class BillingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "signup_bonus_credits", "topup_min_cents", "topup_max_cents"]

    def has_add_permission(self, request):
        return not BillingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(admin.ModelAdmin):
    """Paid plans staff sell. A price change applies to new subscribers; Stripe's Price sets what renews."""

    list_display = [
        "name",
        "slug",
        "tier",
        "price_display",
        "monthly_credits",
        "stripe_price_id",
        "is_active",
    ]
    list_editable = ["is_active"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="monthly price", ordering="price_cents")
    def price_display(self, obj):
        return obj.price_display

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions point at it; take it off sale instead


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_subscription_id", "account", "plan", "status", "current_period_end", "cancel_at_period_end",
        "past_due_since",
    ]  # fmt: skip
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["stripe_subscription_id", "account__user__email", "account__stripe_customer_id"]
    list_select_related = ["account__user", "plan"]


@admin.register(SubscriptionInvoice)
class SubscriptionInvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_invoice_id", "account", "status", "billing_reason", "amount_cents", "credits", "period_end",
        "refunded_cents", "dispute_status",
    ]  # fmt: skip
    list_filter = ["status", "billing_reason", "dispute_status"]
    search_fields = ["stripe_invoice_id", "account__user__email", "stripe_payment_intent_id", "dispute_id"]
    list_select_related = ["account__user"]
    date_hierarchy = "created_at"
